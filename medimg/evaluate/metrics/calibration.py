"""Calibration of predicted probabilities: Brier score and expected calibration error."""

from __future__ import annotations

import numpy as np


def brier_score(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean squared difference between the positive-class probability and the 0/1 outcome."""
    if len(labels) == 0:
        return None
    return float(np.mean((np.asarray(scores, dtype=float) - np.asarray(labels)) ** 2))


def calibration_bins(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width probability bins (as sklearn's calibration_curve, uniform): the mean predicted
    probability, the observed positive rate and the count of each non-empty bin."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(
        edges[1:-1], scores
    )  # sklearn's binning: an edge value joins the lower bin
    out = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            out.append(
                {
                    "bin": b,
                    "count": int(inside.sum()),
                    "mean_predicted": float(scores[inside].mean()),
                    "observed_rate": float(labels[inside].mean()),
                }
            )
    return out


def expected_calibration_error(
    labels: np.ndarray, scores: np.ndarray, bins: int = 10
) -> float | None:
    """Σ over bins of (share of items) × |observed rate − mean predicted probability|."""
    if len(labels) == 0:
        return None
    cells = calibration_bins(labels, scores, bins)
    total = sum(c["count"] for c in cells)
    return float(
        sum(c["count"] / total * abs(c["observed_rate"] - c["mean_predicted"]) for c in cells)
    )
