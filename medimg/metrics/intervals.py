"""Uncertainty of reported metrics: bootstrap over patients, and DeLong's interval for AUC.

Items of one patient are correlated (two eyes, several series), so the bootstrap resamples
patients, not items: each resample draws patients with replacement and keeps all their items.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm, rankdata


def delong_interval(labels: np.ndarray, scores: np.ndarray, level: float = 0.95) -> dict | None:
    """AUC with DeLong's variance (fast midrank form of Sun & Xu, 2014) and its normal interval."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    pos, neg = scores[labels], scores[~labels]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return None
    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n  # per positive: share of negatives it outranks
    v01 = 1.0 - (tz[m:] - ty) / m  # per negative: share of positives that outrank it
    variance = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    z = float(norm.ppf(0.5 + level / 2))
    half = z * np.sqrt(variance)
    return {
        "auc": float(auc),
        "variance": float(variance),
        "low": float(max(auc - half, 0.0)),
        "high": float(min(auc + half, 1.0)),
    }


def patient_resamples(patients: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """Item indices of each bootstrap resample, drawing patients with replacement."""
    _, inverse = np.unique(np.asarray(patients), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    members = np.split(order, np.cumsum(counts)[:-1])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(members), size=(resamples, len(members)))
    return [np.concatenate([members[p] for p in row]) for row in draws]


def bootstrap_intervals(
    statistic: Callable[[np.ndarray], dict[str, float | None]],
    patients: np.ndarray,
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, dict]:
    """Percentile intervals of every value ``statistic(indices)`` returns, over patient resamples.

    A resample where a value is undefined (a class missing) is left out of that value's
    interval, and the count of resamples used is reported with it.
    """
    draws: dict[str, list[float]] = {}
    for indices in patient_resamples(patients, resamples, seed):
        for name, value in statistic(indices).items():
            if value is not None and np.isfinite(value):
                draws.setdefault(name, []).append(float(value))
    tail = (1 - level) / 2 * 100
    out = {}
    for name, values in draws.items():
        low, high = np.percentile(values, [tail, 100 - tail])
        out[name] = {"low": float(low), "high": float(high), "resamples": len(values)}
    return out
