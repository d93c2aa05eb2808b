"""k-fold evaluation: out-of-fold predictions for the decisions made on held-out cases (threshold,
temperature), and the test split scored by each fold and by their ensemble (nnU-Net's CV summary:
per fold, mean ± sd, and the ensemble)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.metrics.intervals import bootstrap_intervals
from medimg.models.ensemble import FoldEnsemble
from medimg.train.datasets import fold_rows


def out_of_fold(
    model, params: Params, paths: ProjectPaths, predict: Callable[..., dict], device
) -> dict:
    """Predictions on the items every decision is made on: the val split for one model; with
    k-fold training each fold's model on its own val fold, so every non-test item is predicted
    once by a model that never trained on it. Same keys as ``predict`` returns."""
    folds = params.split.folds
    if not isinstance(model, FoldEnsemble):
        rows = fold_rows(paths.index, paths.splits, folds, None, "val")
        return predict(model, rows, params, paths, device)
    parts = [
        predict(
            member, fold_rows(paths.index, paths.splits, folds, k, "val"), params, paths, device
        )
        for k, member in enumerate(model.members)
    ]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def decided_on(params: Params) -> str:
    """What the threshold and temperature were chosen on, as reports say it."""
    folds = params.split.folds
    return (
        "val" if folds == 1 else f"out-of-fold predictions of {folds} folds (every training case)"
    )


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
