"""Binary classification metrics for a clinical reader: AUC, and sensitivity/specificity at a threshold."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score, roc_auc_score, roc_curve


def safe_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC-AUC, or None when only one class is present (AUC is undefined, not 0.5)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising sensitivity + specificity - 1 (0.5 if undefined)."""
    if len(np.unique(labels)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(labels, scores)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def binary_report(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | int | None]:
    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    return {
        "n": int(len(labels)), "positives": int(labels.sum()),
        "auc": safe_auc(labels, scores),
        "sensitivity": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
        "accuracy": (tp + tn) / len(labels) if len(labels) else None,
        "tp": tp, "tn": tn, "fp": fp, "fn": fn, "threshold": float(threshold),
    }


def auc_score(labels: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary ROC-AUC from (N, 2) probabilities, or macro one-vs-rest AUC for more classes;
    None when a class is missing from ``labels`` (undefined, not 0.5)."""
    labels = np.asarray(labels)
    if probs.shape[1] == 2:
        return safe_auc(labels, probs[:, 1])
    if len(np.unique(labels)) < probs.shape[1]:
        return None
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))


def quadratic_kappa(labels: np.ndarray, predicted: np.ndarray) -> float | None:
    """Cohen's kappa with quadratic weights, the agreement measure for graded labels (DR 0-4)."""
    if len(np.unique(np.concatenate([labels, predicted]))) < 2:
        return None
    return float(cohen_kappa_score(labels, predicted, weights="quadratic"))
