"""With split.folds > 1 the flow trains one Prefect task per fold, on the Dask task runner."""

import pytest

from flows.pipeline import pipeline_for
from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from tests.conftest import write_tiny_params
from tests.flows.conftest import edit_params


def test_each_fold_is_a_mapped_task_on_the_dask_runner(
    tmp_path, tiny, demo_raw, prefect_server, monkeypatch, dask_cluster
):
    monkeypatch.setenv("MEDIMG_SALT", "kfold-try")  # a split whose 3 folds each hold a positive
    root = tmp_path / "kfold"
    write_tiny_params(root)

    def three_folds_on_dask(params):
        params["data"]["raw_dir"] = str(tiny[1].raw)
        params["split"]["folds"] = 3
        params["orchestration"].update(task_runner="dask", dask={"address": dask_cluster})

    edit_params(root, three_folds_on_dask)
    params = load_params(root / "params.yaml")
    state = pipeline_for(params)(root=str(root), until="train-freeze", return_state=True)
    assert state.is_completed(), state.message
    result = state.result()["train-freeze"]
    assert result["folds"] == 3 and len(result["per_fold"]) == 3

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    per_fold = [run for run in runs if run.name.startswith("train-freeze-item")]
    assert len(per_fold) == 3 and all(run.state.is_completed() for run in per_fold)
    paths = ProjectPaths.from_params(params, root)
    for k in range(3):
        assert (paths.stage_dir("freeze", k) / "ckpt.pt").exists()
    assert (paths.stage_dir("freeze") / "ckpt.pt").exists()


pytestmark = pytest.mark.slow
