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


def top_label_ece(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float | None:
    """ECE of a multi-class model's confidence: the top class's probability against how often the
    top class is right (Guo et al. 2017)."""
    probs = np.asarray(probs, dtype=float)
    correct = (probs.argmax(1) == np.asarray(labels)).astype(float)
    return expected_calibration_error(correct, probs.max(1), bins)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax(logits / T) on
    ``labels`` (temperature scaling, Guo et al. 2017), by LBFGS on log T.

    One scalar cannot change which class ranks first or the order of scores, so AUC, kappa and
    arg-max predictions are unchanged; only the probabilities move. T is kept within [0.05, 20]: a
    split with one class only would otherwise push it to 0 or infinity.
    """
    import torch

    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(np.exp(log_t.item()), 0.05, 20.0))


def log_probabilities(probs: np.ndarray) -> np.ndarray:
    """Logits recovered from softmax probabilities, up to a per-row constant that softmax ignores."""
    return np.log(np.clip(np.asarray(probs, dtype=float), 1e-30, None))


def calibration_errors(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> dict:
    """ECE and Brier of class probabilities (N, K): of the positive class for a binary model, of the
    top class (ECE) and over all classes (Brier) for a graded one, as the reports define them."""
    labels, probs = np.asarray(labels).astype(int), np.asarray(probs, dtype=float)
    if probs.shape[1] == 2:
        return {
            "ece": expected_calibration_error(labels, probs[:, 1], bins),
            "brier": brier_score(labels, probs[:, 1]),
        }
    onehot = np.eye(probs.shape[1])[labels]
    return {
        "ece": top_label_ece(labels, probs, bins),
        "brier": float(((probs - onehot) ** 2).sum(1).mean()) if len(labels) else None,
    }
