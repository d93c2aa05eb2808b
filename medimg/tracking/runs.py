"""Experiment tracking in MLflow (imported lazily: it is slow to import and optional by params)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medimg.config.schema import Params, TrackingParams
from medimg.io.digest import file_digest, settings_fingerprint

# Read once, before anything runs: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI itself, so a
# later read would return the previous run's store instead of the user's choice.
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


def tracking_uri(spec: TrackingParams) -> str:
    """The MLflow store in use: MLFLOW_TRACKING_URI as the user set it, else tracking.uri."""
    return USER_TRACKING_URI or spec.uri


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store (``mlruns/`` next to the .db
    file), so they stay with the project whatever the working directory; None lets MLflow decide."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()


def absolute_store(spec: TrackingParams, root: Path) -> TrackingParams:
    """``spec`` with a relative SQLite store made absolute against the project ``root``: a Dask
    worker runs in its own folder, where the relative path would name another database."""
    path = spec.uri.removeprefix("sqlite:///")
    if not spec.uri.startswith("sqlite:///") or Path(path).is_absolute():
        return spec
    return spec.model_copy(update={"uri": f"sqlite:///{(Path(root) / path).resolve()}"})


def open_store(spec: TrackingParams, parent_key: str | None = None) -> None:
    """Make the store's tables, the experiment and the pipeline's parent run here, once, before
    parallel workers log to them: their first writes would race MLflow's schema migration and each
    make its own parent run."""
    if not spec.enabled:
        return
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(spec))
    experiment = _experiment(mlflow, spec)
    if parent_key:
        _parent_run_id(mlflow, experiment.experiment_id, parent_key)


def _experiment(mlflow: Any, spec: TrackingParams):
    if mlflow.get_experiment_by_name(spec.experiment) is None:
        mlflow.create_experiment(
            spec.experiment, artifact_location=artifact_root(tracking_uri(spec))
        )
    return mlflow.set_experiment(spec.experiment)


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
            clean = {
                k: float(v)
                for k, v in metrics.items()
                if isinstance(v, (int, float)) and v is not None
            }
            self._mlflow.log_metrics(clean, step=step)

    def register_onnx_model(self, path: Path, registered_name: str, example, output) -> str | None:
        """Log the ONNX model with its input/output signature and register it as a new version of
        ``registered_name`` in the MLflow model registry; returns the version."""
        if not self._mlflow:
            return None
        import mlflow.onnx
        import onnx
        from mlflow.models import infer_signature

        info = mlflow.onnx.log_model(
            onnx.load(str(path)),
            name="model",
            registered_model_name=registered_name,
            signature=infer_signature(example, output),
        )
        return str(info.registered_model_version)

    def describe_version(self, registered_name: str, version: str, text: str) -> None:
        """Set a registered model version's description (markdown on its registry page)."""
        if self._mlflow:
            self._mlflow.MlflowClient().update_model_version(
                registered_name, version, description=text
            )

    def artifact_link(self, path: str) -> str | None:
        """The runs:/ URI of an artifact logged to this run."""
        if not self._mlflow:
            return None
        return f"runs:/{self._mlflow.active_run().info.run_id}/{path}"

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        if self._mlflow and Path(path).exists():
            self._mlflow.log_artifact(str(path), artifact_path=folder)


def pipeline_key(params: Params, index_path: Path | None = None) -> str:
    """What groups the steps of one pipeline run under one MLflow parent run.

    A Prefect flow sets MEDIMG_PIPELINE_RUN to its flow-run id. Under ``dvc repro`` each step is its
    own process, so the key is a hash of the params and the preprocessed data: the steps that made
    one model share one parent, and a rerun with other params or data gets a new one.
    """
    explicit = os.environ.get("MEDIMG_PIPELINE_RUN")
    if explicit:
        return explicit
    data = file_digest(index_path) if index_path is not None and Path(index_path).exists() else ""
    return settings_fingerprint(
        {"params": params.model_dump(exclude={"tracking", "orchestration"}), "data": data}
    )


def _parent_run_id(mlflow: Any, experiment_id: str, key: str) -> str:
    client = mlflow.MlflowClient()
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`medimg.pipeline` = '{key}'", max_results=1
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"pipeline-{key.removeprefix('prefect-')[:8]}",
        tags={"medimg.pipeline": key},
    )
    client.set_terminated(
        run.info.run_id
    )  # a container for its steps' runs; it records nothing itself
    return run.info.run_id


@contextmanager
def tracking_run(
    spec: TrackingParams,
    run_name: str,
    tags: dict[str, str] | None = None,
    parent_key: str | None = None,
    run_id: str | None = None,
) -> Iterator[Tracker]:
    """One MLflow run, nested under the pipeline's parent run when ``parent_key`` is given;
    ``run_id`` continues an earlier run (a resumed training stage keeps its curves in one place)."""
    if not spec.enabled:
        yield Tracker(None)
        return
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(spec))
    experiment = _experiment(mlflow, spec)
    if run_id is not None and mlflow.MlflowClient().search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_id = '{run_id}'"
    ):
        context = mlflow.start_run(run_id=run_id)
    else:
        parent = (
            _parent_run_id(mlflow, experiment.experiment_id, parent_key) if parent_key else None
        )
        context = mlflow.start_run(
            run_name=run_name, tags=tags or {}, nested=parent is not None, parent_run_id=parent
        )
    with context as run:
        tracker = Tracker(mlflow)
        tracker.run_id = run.info.run_id
        yield tracker
