"""k-fold evaluation: the test split scored by each fold and by their ensemble (nnU-Net's CV
summary: per fold, mean ± sd, and the ensemble), with bootstrap intervals over patients. The scores
decisions are made on are medimg.evaluate.decisions'."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from medimg.config.schema import Params
from medimg.metrics.intervals import bootstrap_intervals


def interval(
    statistic: Callable[[np.ndarray], float | None], patients: np.ndarray, params: Params
) -> dict | None:
    """The bootstrap interval (over patients, as every other interval in the reports) of one
    figure, ``statistic(indices)``; None when no resample defines it."""
    spec = params.evaluate.bootstrap
    ci = bootstrap_intervals(
        lambda idx: {"value": statistic(idx)}, patients, spec.resamples, spec.seed
    )
    return ci.get("value")


def cross_validation_table(
    metric: str,
    title: str,
    per_fold: list[float | None],
    ensemble: float | None,
    per_fold_ci: list[dict | None] | None = None,
    ensemble_ci: dict | None = None,
) -> dict:
    """The test figure (``metric``, called ``title`` in the model card) of each fold, their mean
    and sample sd, and the ensemble's, each with its 95% interval when given."""
    values = [v for v in per_fold if v is not None and v == v]  # NaN: undefined
    return {
        "metric": metric,
        "title": title,
        "per_fold": per_fold,
        "per_fold_ci95": per_fold_ci or [None] * len(per_fold),
        "mean": statistics.fmean(values) if values else None,
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "ensemble": ensemble,
        "ensemble_ci95": ensemble_ci,
    }
