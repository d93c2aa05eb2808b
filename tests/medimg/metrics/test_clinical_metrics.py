"""Every classification metric agrees with scikit-learn to 1e-9 on the same inputs."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from medimg.metrics.calibration import calibration_bins, expected_calibration_error
from medimg.metrics.classification import (
    binary_metrics,
    choose_threshold,
    multiclass_metrics,
    rank_auc,
    sensitivity_threshold,
    youden_threshold,
)


def _binary(seed=0, n=200):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1).round(2)  # rounded: ties happen
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_agree_with_scikit_learn(seed):
    labels, scores = _binary(seed)
    threshold = 0.5
    got = binary_metrics(labels, scores, threshold)
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted).ravel()
    expected = {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": skm.recall_score(labels, predicted),
        "specificity": skm.recall_score(labels, predicted, pos_label=0),
        "ppv": skm.precision_score(labels, predicted),
        "npv": skm.precision_score(labels, predicted, pos_label=0),
        "f1": skm.f1_score(labels, predicted),
        "accuracy": skm.accuracy_score(labels, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
        "kappa": skm.cohen_kappa_score(labels, predicted),
        "auc": skm.roc_auc_score(labels, scores),
        "pr_auc": skm.average_precision_score(labels, scores),
        "brier": skm.brier_score_loss(labels, scores),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(float(value), abs=1e-9), name


def test_undefined_metrics_are_none_not_zero():
    got = binary_metrics(np.array([1, 1, 1]), np.array([0.9, 0.2, 0.7]), 0.5)
    assert got["auc"] is None and got["specificity"] is None and got["pr_auc"] is None
    assert rank_auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


def test_expected_calibration_error_uses_sklearns_bins():
    labels, scores = _binary(3, 500)
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
    bins = calibration_bins(labels, scores, 10)
    np.testing.assert_allclose([b["observed_rate"] for b in bins], prob_true, atol=1e-9)
    np.testing.assert_allclose([b["mean_predicted"] for b in bins], prob_pred, atol=1e-9)
    counts = np.array([b["count"] for b in bins])
    manual = float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))
    assert expected_calibration_error(labels, scores, 10) == pytest.approx(manual, abs=1e-12)


def test_multiclass_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5)) + 1.5 * np.eye(5)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = multiclass_metrics(labels, probs)
    predicted = probs.argmax(1)
    assert got["quadratic_kappa"] == pytest.approx(
        skm.cohen_kappa_score(labels, predicted, weights="quadratic"), abs=1e-9
    )
    assert got["kappa"] == pytest.approx(skm.cohen_kappa_score(labels, predicted), abs=1e-9)
    assert got["macro_auc"] == pytest.approx(
        skm.roc_auc_score(labels, probs, multi_class="ovr"), abs=1e-9
    )
    for k in range(5):
        assert got["auc_per_class"][k] == pytest.approx(
            skm.roc_auc_score(labels == k, probs[:, k]), abs=1e-9
        )
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted), abs=1e-9
    )
    assert got["confusion_matrix"] == skm.confusion_matrix(labels, predicted).tolist()
    onehot = np.eye(5)[labels]
    assert got["brier"] == pytest.approx(
        float(np.mean(np.sum((probs - onehot) ** 2, 1))), abs=1e-12
    )


def test_thresholds_are_chosen_by_the_stated_rule():
    labels, scores = _binary(5)
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    assert youden_threshold(labels, scores) == thresholds[np.argmax(tpr - fpr)]
    cut = sensitivity_threshold(labels, scores, 0.9)
    assert binary_metrics(labels, scores, cut)["sensitivity"] >= 0.9
    above = scores[scores > cut].min()  # the next threshold up no longer reaches the target
    assert binary_metrics(labels, scores, above)["sensitivity"] < 0.9
    assert choose_threshold("sensitivity", labels, scores, 0.9) == cut
