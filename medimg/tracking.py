"""Experiment tracking in MLflow (imported lazily: it is slow to import and optional by params)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medimg.params import TrackingParams

# Read once, before anything runs: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI itself, so a
# later read would return the previous run's store instead of the user's choice.
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{'train': {'stages': [{'epochs': 3}]}} → {'train.stages.0.epochs': 3}, for MLflow params."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


class Tracker:
    """A thin handle on one MLflow run; with tracking disabled every call does nothing."""

    def __init__(self, mlflow_module: Any | None) -> None:
        self._mlflow = mlflow_module
        self.run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None:
        if self._mlflow:
            self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float | None], step: int | None = None) -> None:
        if self._mlflow:
            clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None}
            self._mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        if self._mlflow and Path(path).exists():
            self._mlflow.log_artifact(str(path), artifact_path=folder)


@contextmanager
def tracking_run(spec: TrackingParams, run_name: str, tags: dict[str, str] | None = None) -> Iterator[Tracker]:
    if not spec.enabled:
        yield Tracker(None)
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(USER_TRACKING_URI or spec.uri)
    mlflow.set_experiment(spec.experiment)
    with mlflow.start_run(run_name=run_name, tags=tags or {}) as run:
        tracker = Tracker(mlflow)
        tracker.run_id = run.info.run_id
        yield tracker
