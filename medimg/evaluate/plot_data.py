"""Plot data for `dvc plots` and the figures: ROC (with a bootstrap band), PR, confusion.

Calibration bins come from medimg.metrics.calibration.calibration_bins."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from medimg.metrics.intervals import patient_resamples

FPR_GRID = np.linspace(0.0, 1.0, 101)


def roc_points(labels: np.ndarray, scores: np.ndarray) -> list[dict]:
    if len(np.unique(labels)) < 2:
        return []
    fpr, tpr, thresholds = roc_curve(labels, scores)
    return [
        {"fpr": float(f), "tpr": float(t), "threshold": float(min(h, 1.0))}
        for f, t, h in zip(fpr, tpr, thresholds)
    ]


def roc_band(
    labels: np.ndarray, scores: np.ndarray, patients: np.ndarray, resamples: int, seed: int
) -> list[dict]:
    """Pointwise 95% band of the ROC curve: TPR at a fixed FPR grid over patient resamples."""
    curves = []
    for idx in patient_resamples(patients, resamples, seed):
        if len(np.unique(labels[idx])) < 2:
            continue
        fpr, tpr, _ = roc_curve(labels[idx], scores[idx])
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    if not curves:
        return []
    low, high = np.percentile(np.array(curves), [2.5, 97.5], axis=0)
    return [
        {"fpr": float(f), "tpr_low": float(lo), "tpr_high": float(hi)}
        for f, lo, hi in zip(FPR_GRID, low, high)
    ]


def pr_points(labels: np.ndarray, scores: np.ndarray) -> list[dict]:
    if labels.sum() == 0:
        return []
    precision, recall, _ = precision_recall_curve(labels, scores)
    return [{"recall": float(r), "precision": float(p)} for p, r in zip(precision, recall)]


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> list[dict]:
    """One row per item, as DVC's confusion template expects (actual, predicted)."""
    return [
        {"actual": class_names[int(a)], "predicted": class_names[int(p)]}
        for a, p in zip(labels, predicted)
    ]
