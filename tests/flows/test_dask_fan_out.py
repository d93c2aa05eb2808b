"""Ingest and preprocess fanned out per series on a real multi-process Dask cluster (a `dask
scheduler` and 2 `dask worker` processes) give the sequential run's outputs exactly."""

import shutil

import pandas as pd

from flows.pipeline import pipeline_for
from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from tests.conftest import write_tiny_params
from tests.flows.conftest import edit_params, flow_task_names


def test_dask_fan_out_equals_the_sequential_run(
    tmp_path, tiny, preprocessed, prefect_server, dask_cluster
):
    sequential = tiny[1]
    root = tmp_path / "dask"
    write_tiny_params(root)
    (root / ".medimg").mkdir()
    shutil.copy2(sequential.root / ".medimg/salt", root / ".medimg/salt")  # the same pseudonyms

    def on_dask(params):
        params["data"]["raw_dir"] = str(sequential.raw)
        params["orchestration"].update(task_runner="dask", dask={"address": dask_cluster})

    edit_params(root, on_dask)
    params = load_params(root / "params.yaml")
    state = pipeline_for(params)(root=str(root), until="preprocess", return_state=True)
    assert state.is_completed(), state.message
    assert list(state.result()) == flow_task_names("ingest", "preprocess")

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    per_item = [run for run in runs if run.name.startswith(("ingest-item", "preprocess-item"))]
    assert (
        len([r for r in per_item if r.name.startswith("ingest-item")]) == 12
    )  # one task per series
    assert all(run.state.is_completed() for run in per_item)

    ours = ProjectPaths.from_params(params, root)
    for table in ("manifest", "index"):  # row for row
        pd.testing.assert_frame_equal(
            pd.read_parquet(getattr(ours, table)), pd.read_parquet(getattr(sequential, table))
        )
    cache = sorted(p.name for p in sequential.cache.glob("*.npy"))
    assert cache and sorted(p.name for p in ours.cache.glob("*.npy")) == cache
    for name in cache:  # byte for byte
        assert (ours.cache / name).read_bytes() == (sequential.cache / name).read_bytes()
