"""Classification metrics for a clinical reader, binary and graded (multi-class).

Every figure is checked against scikit-learn in tests. AUC is computed from midranks (the
Mann-Whitney form) because the bootstrap evaluates it thousands of times and DeLong needs the
same ranks; undefined values (a class missing, a zero denominator) are None, never 0 or 0.5.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_curve

from medimg.metrics.calibration import (
    brier_score,
    calibration_errors,
    expected_calibration_error,
)

# the binary figures that get a bootstrap interval (counts and the threshold itself do not)
BINARY_INTERVALS = (
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "f1",
    "accuracy",
    "balanced_accuracy",
    "kappa",
    "auc",
    "pr_auc",
    "brier",
    "ece",
)
# the clinical figures reports, metrics.json and the export gate show: the binary ones and the graded
CLINICAL_METRICS = (*BINARY_INTERVALS, "quadratic_kappa", "macro_auc")


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC as P(score of a positive > score of a negative), ties counted half; None without both classes."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_score(labels: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary AUC from (N, 2) probabilities, or the macro one-vs-rest AUC for more classes."""
    if probs.shape[1] == 2:
        return rank_auc(labels, probs[:, 1])
    per_class = one_vs_rest_aucs(labels, probs)
    return None if any(v is None for v in per_class) else float(np.mean(per_class))


def one_vs_rest_aucs(labels: np.ndarray, probs: np.ndarray) -> list[float | None]:
    return [rank_auc(np.asarray(labels) == k, probs[:, k]) for k in range(probs.shape[1])]


def quadratic_kappa(labels: np.ndarray, predicted: np.ndarray) -> float | None:
    """Cohen's kappa with quadratic weights, the agreement measure for graded labels (DR 0-4)."""
    if len(np.unique(np.concatenate([labels, predicted]))) < 2:
        return None
    return float(cohen_kappa_score(labels, predicted, weights="quadratic"))


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    if len(np.unique(labels)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(labels, scores)
    return float(min(thresholds[int(np.argmax(tpr - fpr))], 1.0))


def sensitivity_threshold(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity reaches ``target`` (so specificity is as high as it can be)."""
    positives = np.sort(np.asarray(scores)[np.asarray(labels) == 1])[::-1]
    if len(positives) == 0:
        return 0.5
    needed = int(
        np.ceil(target * len(positives))
    )  # positives that must score at or above the threshold
    return float(positives[max(needed, 1) - 1])


def choose_threshold(
    rule: str, labels: np.ndarray, scores: np.ndarray, target_sensitivity: float
) -> float:
    if rule == "sensitivity":
        return sensitivity_threshold(labels, scores, target_sensitivity)
    return youden_threshold(labels, scores)


def binary_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float, ece_bins: int = 10
) -> dict:
    """Everything at one operating point, plus the threshold-free AUC, PR-AUC, Brier and ECE."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    predicted = (scores >= threshold).astype(int)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    n = len(labels)
    sensitivity, specificity = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    ppv, npv = _ratio(tp, tp + fp), _ratio(tn, tn + fn)
    observed = _ratio(tp + tn, n)
    expected = _ratio((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn), n * n)
    both = labels.min() != labels.max()
    return {
        "n": n,
        "positives": int(labels.sum()),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "ppv": ppv,
        "npv": npv,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": observed,
        "balanced_accuracy": (sensitivity + specificity) / 2
        if sensitivity is not None and specificity is not None
        else None,
        "kappa": (observed - expected) / (1 - expected)
        if observed is not None and expected not in (None, 1.0)
        else None,
        "auc": rank_auc(labels, scores),
        "pr_auc": float(average_precision_score(labels, scores)) if both else None,
        "brier": brier_score(labels, scores),
        "ece": expected_calibration_error(labels, scores, ece_bins),
    }


def multiclass_metrics(labels: np.ndarray, probs: np.ndarray, ece_bins: int = 10) -> dict:
    """Graded or multi-class labels: accuracy, balanced accuracy, kappa (plain and quadratic),
    one-vs-rest AUC per class and their macro mean, multi-class Brier, top-label ECE and the
    confusion matrix."""
    labels = np.asarray(labels).astype(int)
    classes = probs.shape[1]
    predicted = probs.argmax(1)
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    recalls = [_ratio(matrix[k, k], matrix[k].sum()) for k in range(classes)]
    present = [r for r in recalls if r is not None]
    per_class_auc = one_vs_rest_aucs(labels, probs)
    varied = len(np.unique(np.concatenate([labels, predicted]))) > 1
    return {
        "n": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "kappa": float(cohen_kappa_score(labels, predicted)) if varied else None,
        "quadratic_kappa": quadratic_kappa(labels, predicted),
        "auc_per_class": per_class_auc,
        "macro_auc": None
        if any(v is None for v in per_class_auc)
        else float(np.mean(per_class_auc)),
        **calibration_errors(labels, probs, ece_bins),
        "confusion_matrix": matrix.tolist(),
    }


RATES = {"sensitivity": 1, "specificity": 0}  # the class each rate is measured on


def rates_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Sensitivity and specificity of ``scores >= threshold``; None where the class is absent."""
    flagged = np.asarray(scores) >= threshold
    labels = np.asarray(labels).astype(int)
    out = {}
    for name, cls in RATES.items():
        of_class = labels == cls
        hits = flagged[of_class] if cls == 1 else ~flagged[of_class]
        out[name] = float(hits.mean()) if of_class.any() else None
    return out


def matched_threshold(scores: np.ndarray, threshold: float, target: np.ndarray) -> float:
    """The threshold on ``target`` scores that flags the same share of cases as ``threshold``
    flags among ``scores`` (quantile matching): a cut chosen on one model's scale carried to
    another's that ranks the same cases."""
    below = float(np.mean(np.asarray(scores, dtype=float) < threshold))
    return float(np.quantile(np.asarray(target, dtype=float), below))
