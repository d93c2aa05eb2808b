import json

import pytest

from flows.pipeline import pipeline
from tests.conftest import write_tiny_params
from tests.flows.conftest import flow_task_names


def _task_run_states(flow_run_id) -> dict[str, list[str]]:
    """Task name → the names of the states it went through, as the Prefect API records them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return {
            run.name.rsplit("-", 1)[0]: [s.name for s in client.read_task_run_states(run.id)]
            for run in runs
        }


def _artifacts(flow_run_id) -> dict:
    """Artifact key → (type, data) of one flow run, read back through the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: (a.type, a.data) for a in found}


def test_the_flow_runs_every_step_as_a_task_and_writes_the_same_outputs(tmp_path, prefect_server):
    write_tiny_params(tmp_path)
    # preprocess fails once with a transient fault; its retry must carry the flow to the end
    faults = [
        "orchestration.fault_injection.step=preprocess",
        "orchestration.fault_injection.failures=1",
        "orchestration.retries=1",
        "orchestration.retry_delay_s=0",
    ]
    # and the training stages are launched under torchrun, two CPU processes each
    distributed = ["orchestration.torchrun.nproc_per_node=2"]
    state = pipeline(
        params_file="params.yaml",
        overrides=faults + distributed,
        root=str(tmp_path),
        return_state=True,
    )
    assert state.is_completed(), state.message
    history = _task_run_states(state.state_details.flow_run_id)
    assert "Retrying" in history["preprocess"] and history["preprocess"][-1] == "Completed"
    assert "Retrying" not in history["ingest"] and history["export"][-1] == "Completed"
    results = state.result()
    assert list(results) == flow_task_names()
    assert results["ingest"]["summary"]["items"] == 12
    assert results["train-freeze"]["world_size"] == results["train-unfreeze"]["world_size"] == 2
    assert (
        json.loads((tmp_path / "reports" / "metrics.json").read_text())["n"]
        == results["evaluate"]["n"]
    )
    assert (tmp_path / "artifacts" / "model.onnx").exists()

    # the figures people read in the Prefect UI, under stable keys
    artifacts = _artifacts(state.state_details.flow_run_id)
    assert set(artifacts) == {
        "medimg-ingest-summary",
        "medimg-test-metrics",
        "medimg-export-gate",
    }
    assert all(kind == "table" for kind, _ in artifacts.values())
    ingest = json.loads(artifacts["medimg-ingest-summary"][1])
    assert {"group": "status", "name": "ok", "count": 12} in ingest
    metrics = {r["metric"]: r for r in json.loads(artifacts["medimg-test-metrics"][1])}
    reported = json.loads((tmp_path / "reports" / "evaluation.json").read_text())
    assert metrics["auc"]["value"] == round(reported["metrics"]["auc"], 4)
    assert metrics["auc"]["ci95_low"] == round(reported["ci95"]["auc"]["low"], 4)
    gate = json.loads(artifacts["medimg-export-gate"][1])
    report = json.loads((tmp_path / "artifacts" / "export_report.json").read_text())
    assert {r["variant"]: r["deployable"] for r in gate} == {
        name: q["deployable"] for name, q in report["quality"].items()
    }
    assert all(r["batch 1 ms"] for r in gate if r["variant"] != "ort_fp16")


def test_fault_injection_fails_only_the_named_step_and_only_its_first_attempts():
    from flows.steps import TransientFault, with_fault
    from medimg.config.schema import OrchestrationParams

    orch = OrchestrationParams.model_validate(
        {"fault_injection": {"step": "export", "failures": 2}}
    )
    flaky = with_fault(lambda x: x + 1, "export", orch)
    for attempt in (1, 2):
        with pytest.raises(
            TransientFault, match=f"export: injected transient fault {attempt} of 2"
        ):
            flaky(1)
    assert flaky(1) == 2
    untouched = lambda x: x  # noqa: E731
    assert with_fault(untouched, "ingest", orch) is untouched


def test_torchrun_command_is_standalone_on_one_node_and_rendezvous_on_several():
    from flows.steps import torchrun_command
    from medimg.config.loading import load_params
    from medimg.config.schema import OrchestrationParams, ParamsError

    one = OrchestrationParams.model_validate({"torchrun": {"nproc_per_node": 4}}).torchrun
    command = torchrun_command("params.yaml", ["train.batch_size=8"], "unfreeze", one)
    assert command[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in command
    assert command[command.index("--nproc_per_node") + 1] == "4"
    assert command[-6:] == [
        "--stage",
        "unfreeze",
        "--params",
        "params.yaml",
        "--set",
        "train.batch_size=8",
    ]
    nodes = OrchestrationParams.model_validate(
        {"torchrun": {"nnodes": 2, "rdzv_endpoint": "head:29400"}}
    ).torchrun
    command = torchrun_command("params.yaml", [], "freeze", nodes)
    assert (
        "--standalone" not in command
        and command[command.index("--rdzv_endpoint") + 1] == "head:29400"
    )
    with pytest.raises(ParamsError, match="orchestration.torchrun.*rdzv_endpoint"):
        load_params("params.yaml", ["orchestration.torchrun.nnodes=2"])
