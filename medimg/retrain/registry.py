"""The champion in the MLflow model registry: which version holds the alias, and its files.

Promote compares against it; the PACS watcher runs it. A registered version holds the fp32 ONNX
model; the export step logged the bundle it came with (bundle.json) to the version's run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from medimg.config.variants import REFERENCE
from medimg.deploy.bundle import Bundle, RegisteredModel, load_bundle_spec, write_bundle
from medimg.io import atomic
from medimg.io.problems import InputError

ALIAS = "champion"


def champion_version(client, name: str) -> str | None:
    """The version behind the ``champion`` alias, or None when no model holds it yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, ALIAS).version)
    except MlflowException:
        return None


def download_version(client, name: str, version: str, into: Path) -> tuple[Path, Bundle]:
    """A registered version's ONNX file and the bundle its export step logged (threshold, recipe)."""
    import mlflow

    folder = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(into)
        )
    )
    model = next(folder.rglob("*.onnx"))
    run_id = client.get_model_version(name, version).run_id
    logged = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="bundle", dst_path=str(into / "bundle")
        )
    )
    return model, load_bundle_spec(logged)


def champion_bundle(tracking_uri: str, name: str, cache: Path) -> Path:
    """A bundle folder (model.onnx + bundle.json) of the current champion, downloaded once per
    version into ``cache/v<version>``; an InputError while no version holds the alias."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    version = champion_version(client, name)
    if version is None:
        raise InputError(
            f"model {name!r} has no champion yet in {tracking_uri}: run the retraining flow "
            "(promote sets the alias), or set pacs.watch.bundle to a bundle folder"
        )
    target = Path(cache) / f"v{version}"
    if target.is_dir():
        return target
    build = atomic.fresh_build_dir(target)
    model, spec = download_version(client, name, version, build / "download")
    shutil.move(str(model), build / "model.onnx")
    # only the fp32 ONNX model is registered: the bundle offers that variant alone; and it names the
    # version DICOM results cite (an exported bundle has none: the registry numbers versions after
    # export, and a rerun must write the same bundle)
    only = REFERENCE
    spec = spec.model_copy(
        update={
            "models": {only: "model.onnx"},
            "backends": {only: "onnxruntime"},
            "thresholds": {only: spec.thresholds.get(only)},
            "registered_model": RegisteredModel(name=name, version=version),
        }
    )
    write_bundle(spec, build)
    shutil.rmtree(build / "download")
    return atomic.replace_dir(build, target)
