import json

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.pipeline import pipeline
from tests.conftest import write_tiny_params


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_flow_runs_every_step_as_a_task_and_writes_the_same_outputs(tmp_path, prefect_server):
    write_tiny_params(tmp_path)
    state = pipeline(params_file="params.yaml", root=str(tmp_path), return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    assert list(results) == ["demo-data", "ingest", "preprocess", "train-freeze", "train-unfreeze", "evaluate",
                             "export"]
    assert results["ingest"]["summary"]["items"] == 12
    assert json.loads((tmp_path / "reports" / "metrics.json").read_text())["n"] == results["evaluate"]["n"]
    assert (tmp_path / "artifacts" / "model.onnx").exists()
