"""The scheduled retraining flow on a real DVC project, Prefect server and MLflow registry: the first
model becomes champion, a better challenger replaces a worse champion, a worse one does not, and a
failed run leaves the champion, the artifacts and dvc.lock as they were."""

import hashlib
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from flows.retrain import retrain
from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from medimg.deploy.bundle import BUNDLE_FILE
from medimg.export.scoring import load_split
from tests.flows.conftest import edit_params, make_dvc_project


def lookup_model(sums: np.ndarray, logits: np.ndarray) -> onnx.ModelProto:
    """An ONNX classifier that recognises each test item by its voxel sum and answers the logits we
    choose for it: a champion of exactly known quality on that split."""
    nodes = [
        helper.make_node("ReduceSum", ["input", "axes"], ["sum"], keepdims=0),
        helper.make_node("Unsqueeze", ["sum", "one"], ["column"]),
        helper.make_node("Sub", ["column", "sums"], ["offset"]),
        helper.make_node("Abs", ["offset"], ["distance"]),
        helper.make_node("ArgMin", ["distance"], ["nearest"], axis=1, keepdims=0),
        helper.make_node("Gather", ["table", "nearest"], ["logits"], axis=0),
    ]
    constants = [
        helper.make_tensor("axes", TensorProto.INT64, [4], [1, 2, 3, 4]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor(
            "sums", TensorProto.FLOAT, [1, len(sums)], sums.astype(np.float32).tolist()
        ),
        helper.make_tensor(
            "table", TensorProto.FLOAT, list(logits.shape), logits.astype(np.float32).ravel()
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "lookup",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 32, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
        constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def register_champion(params, paths, correct: bool) -> str:
    """Register a lookup model that is always right (or always wrong) on the test split and give it the alias."""
    import mlflow
    import mlflow.onnx

    images, targets = load_split(params, paths)
    sign = 1.0 if correct else -1.0
    # logits of ±20 saturate the softmax: the wrong one is the worst possible on every metric, Brier included
    table = np.stack([-sign * (2 * targets - 1), sign * (2 * targets - 1)], axis=1) * 20.0
    mlflow.set_tracking_uri(params.tracking.uri)
    mlflow.set_experiment(params.tracking.experiment)
    with mlflow.start_run(run_name="hand-made champion"):
        info = mlflow.onnx.log_model(
            lookup_model(images.reshape(len(images), -1).sum(1), table),
            name="model",
            registered_model_name=params.tracking.registered_model,
        )
        mlflow.log_artifact(str(paths.artifacts / BUNDLE_FILE), "bundle")
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(
        params.tracking.registered_model, "champion", version
    )
    return version


def champion(params) -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=params.tracking.uri)
    return str(
        client.get_model_version_by_alias(params.tracking.registered_model, "champion").version
    )


def digests(root, folders) -> dict[str, str]:
    """Every output file's SHA-256, leaving out the retraining decisions (they record each run)."""
    files = [
        p
        for name in folders
        for p in ([root / name] if (root / name).is_file() else (root / name).rglob("*"))
    ]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(files)
        if p.is_file() and "retrain" not in p.parts
    }


def training_runs(params) -> int:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=params.tracking.uri)
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    return len(
        client.search_runs([experiment.experiment_id], "attributes.run_name = 'train-unfreeze'")
    )


def latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )[0]


def test_retraining_promotes_only_a_better_model_and_a_failed_run_changes_nothing(
    tmp_path_factory, prefect_server
):
    root = tmp_path_factory.mktemp("retrain")
    make_dvc_project(root, f"sqlite:///{root / 'mlflow.db'}")
    params = load_params(root / "params.yaml")
    paths = ProjectPaths.from_params(params, root)

    first = retrain(root=str(root))  # no champion yet: the first model takes the alias
    assert first["promote"] and first["reason"] == "no champion yet"
    trained = first["challenger"]["version"]
    assert champion(params) == trained

    # The tiny model's figures on a 2-item test split can be anything, so the champions are made the
    # worst and the best possible: with margin 0 any challenger beats the worst one, and with margin
    # 0.01 none beats the best one.
    edit_params(
        root, lambda p: p["retrain"].update(margin=0.0)
    )  # no stage reads retrain: nothing reruns
    wrong = register_champion(params, paths, correct=False)
    decision = retrain(
        root=str(root)
    )  # nothing changed, so nothing retrains: the trained model challenges
    assert (
        decision["champion"]["figures"]["auc"] == 0.0
        and decision["challenger"]["version"] == trained
    )
    assert decision["promote"] and champion(params) == trained
    assert (
        json.loads((paths.reports / "retrain/latest.json").read_text())["champion"]["version"]
        == wrong
    )

    edit_params(root, lambda p: p["retrain"].update(margin=0.01))
    perfect = register_champion(params, paths, correct=True)
    decision = retrain(root=str(root))
    assert (
        decision["champion"]["figures"]["auc"] == 1.0
        and decision["challenger"]["version"] == trained
    )
    assert (
        not decision["promote"] and "margin" in decision["reason"] and champion(params) == perfect
    )
    # the Prefect UI shows the decision, champion beside challenger, with their MLflow runs
    note = latest_artifact("medimg-retrain-decision")
    assert note.type == "markdown" and "champion kept" in note.data
    assert f"| version | v{trained}, run `{decision['challenger']['run_id']}`" in note.data
    assert f"v{perfect}, run `" in note.data and "| auc | " in note.data

    before, trainings = (
        digests(root, ["models", "reports", "artifacts", "dvc.lock"]),
        training_runs(params),
    )
    assert "dvc.lock" in before and "models/unfreeze/ckpt.pt" in before
    # a changed learning rate retrains both stages, then evaluate dies on every attempt
    edit_params(
        root,
        lambda p: (
            p["train"]["stages"][1].update(lr_head=0.0005),
            p["orchestration"].update(
                retries=0, fault_injection={"step": "evaluate", "failures": 9}
            ),
        ),
    )
    with pytest.raises(Exception, match="injected transient fault"):
        retrain(root=str(root))
    assert training_runs(params) == trainings + 1  # it did retrain, overwriting the checkpoints ...
    assert (
        digests(root, ["models", "reports", "artifacts", "dvc.lock"]) == before
    )  # ... now put back byte for byte
    assert champion(params) == perfect
    assert json.loads((paths.reports / "retrain/latest.json").read_text())["failed"]
    assert not (root / ".medimg/last-good").exists()
