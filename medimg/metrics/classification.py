"""Binary classification metrics for a clinical reader: AUC, and sensitivity/specificity at a threshold."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


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
