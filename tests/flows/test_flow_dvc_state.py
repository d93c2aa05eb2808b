"""The Prefect flow and `dvc repro` share one record of what is up to date: dvc.lock."""

import sys

import yaml

from flows.pipeline import pipeline
from tests.flows.conftest import (
    dvc_stage_names,
    edit_params,
    flow_task_names,
    make_dvc_project,
    ran_stages,
    run,
)


def _fault(step, failures):
    def edit(params):
        params["orchestration"].update(
            retries=0, retry_delay_s=0, fault_injection={"step": step, "failures": failures}
        )

    return edit


def test_a_rerun_after_a_crash_redoes_only_the_unfinished_steps_and_dvc_agrees(
    tmp_path_factory, prefect_server
):
    root = tmp_path_factory.mktemp("flowdvc")
    make_dvc_project(root, f"sqlite:///{root / 'mlflow.db'}")
    # the unfreeze stage dies on every attempt: the flow fails there
    edit_params(root, _fault("train-unfreeze", 9))
    crashed = pipeline(root=str(root), return_state=True)
    assert crashed.is_failed()
    locked = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert set(locked) == dvc_stage_names(last="train-freeze")  # what finished is recorded
    freeze = (root / "models/freeze/ckpt.pt").stat().st_mtime_ns
    interim = (root / "data/interim/manifest.parquet").stat().st_mtime_ns

    edit_params(
        root, _fault(None, 0)
    )  # orchestration is no stage's param: nothing goes stale by it
    state = pipeline(root=str(root), return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    skipped = [step for step, result in results.items() if result.get("up_to_date")]
    assert skipped == flow_task_names(last="train-freeze")
    assert results["export"]["quality"]["ort_fp32"]
    assert (root / "models/freeze/ckpt.pt").stat().st_mtime_ns == freeze
    assert (root / "data/interim/manifest.parquet").stat().st_mtime_ns == interim

    # dvc sees what the flow did: nothing to do, and every stage is in dvc.lock
    assert "up to date" in run([sys.executable, "-m", "dvc", "status"], root)
    assert ran_stages(run([sys.executable, "-m", "dvc", "repro"], root)) == set()
    assert set(yaml.safe_load((root / "dvc.lock").read_text())["stages"]) == dvc_stage_names()


def test_update_data_pulls_from_a_configured_remote_and_otherwise_uses_the_local_data(tmp_path):
    import shutil

    from flows.dvc_stages import update_data

    root = tmp_path / "site"
    make_dvc_project(root, f"sqlite:///{root / 'mlflow.db'}")
    assert "local data are used as they are" in update_data(root)
    raw = root / "data/raw/site-a"  # a hospital's own DVC-tracked dataset
    raw.mkdir(parents=True)
    (raw / "series.dcm").write_bytes(b"stand-in for a DICOM file")
    run([sys.executable, "-m", "dvc", "add", "data/raw/site-a"], root)
    run(
        [sys.executable, "-m", "dvc", "remote", "add", "-d", "hospital", str(tmp_path / "remote")],
        root,
    )
    run([sys.executable, "-m", "dvc", "push"], root)
    shutil.rmtree(raw)
    shutil.rmtree(root / ".dvc/cache")  # only the remote has the data now
    assert "dvc pull from hospital" in update_data(root)
    assert (raw / "series.dcm").read_bytes() == b"stand-in for a DICOM file"
