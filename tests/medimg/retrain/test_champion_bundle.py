"""The PACS watcher runs the registry's champion: champion_bundle fetches the version behind the
alias from a real MLflow store (once per version) as a bundle predict can run, whose DICOM results
name that registered version."""

from __future__ import annotations

import mlflow
import onnx
import pydicom
import pytest

from medimg.deploy.bundle import BUNDLE_FILE, load_bundle_spec
from medimg.deploy.predict import predict
from medimg.io.problems import InputError
from medimg.retrain.registry import ALIAS, champion_bundle
from tests.bundles import mean_classifier, write_study

NAME = "medimg-watch-test"


def register(folder, uri: str) -> str:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("watch")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(
            onnx.load(str(folder / "model.onnx")), name="model", registered_model_name=NAME
        )
        mlflow.log_artifact(str(folder / BUNDLE_FILE), artifact_path="bundle")
    return str(info.registered_model_version)


def test_the_champion_is_fetched_once_per_version_and_named_in_the_results(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cache = tmp_path / "cache"
    version = register(mean_classifier(tmp_path / "exported"), uri)
    with pytest.raises(InputError, match="no champion yet"):
        champion_bundle(uri, NAME, cache)
    mlflow.MlflowClient().set_registered_model_alias(NAME, ALIAS, version)

    bundle = champion_bundle(uri, NAME, cache)
    assert bundle == cache / f"v{version}"
    assert sorted(p.name for p in bundle.iterdir()) == [BUNDLE_FILE, "model.onnx"]
    spec = load_bundle_spec(bundle)
    assert spec.models == {"ort_fp32": "model.onnx"}
    assert spec.registered_model.name == NAME and spec.registered_model.version == version
    stamp = (bundle / "model.onnx").stat().st_mtime_ns
    assert champion_bundle(uri, NAME, cache) == bundle  # cached: not downloaded again
    assert (bundle / "model.onnx").stat().st_mtime_ns == stamp

    write_study(tmp_path / "study", 5, bright=True)
    [result] = predict(tmp_path / "study", bundle, tmp_path / "out")
    sr = pydicom.dcmread(result["dicom"])
    group = sr.ContentSequence[-1].ContentSequence[0].ContentSequence
    versions = [i.TextValue for i in group if i.ConceptNameCodeSequence[0].CodeValue == "111003"]
    assert versions == [f"{NAME}:{version}"]
