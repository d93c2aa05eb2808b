import numpy as np
from sklearn.metrics import roc_auc_score

from medimg.metrics.classification import binary_report, safe_auc, youden_threshold


def test_report_agrees_with_sklearn_and_counts():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    report = binary_report(labels, scores, 0.5)
    assert report["auc"] == roc_auc_score(labels, scores)
    predicted = scores >= 0.5
    assert report["sensitivity"] == (predicted & (labels == 1)).sum() / (labels == 1).sum()
    assert report["specificity"] == (~predicted & (labels == 0)).sum() / (labels == 0).sum()
    assert report["tp"] + report["tn"] + report["fp"] + report["fn"] == 200


def test_youden_separates_perfectly_separable_scores():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    threshold = youden_threshold(labels, scores)
    assert 0.3 < threshold <= 0.7
    assert binary_report(labels, scores, threshold)["accuracy"] == 1.0


def test_auc_is_undefined_for_one_class():
    assert safe_auc(np.array([1, 1]), np.array([0.2, 0.8])) is None
