"""The team's servers on a real PostgreSQL: Prefect and MLflow keep their data in it, and the
scheduled retraining registered with a process work pool runs on that pool's worker, survives the
worker's death by a retry, and lands its MLflow runs and registered version in the PostgreSQL-backed
MLflow server."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from medimg.team.postgres import connect
from medimg.team.servers import (
    create_work_pool,
    start_mlflow_server,
    start_prefect_server,
    start_worker,
)
from tests.conftest import REPO
from tests.flows.conftest import edit_params, make_dvc_project, run
from tests.team.conftest import free_port

pytestmark = pytest.mark.slow
POOL = "medimg-team"


@pytest.fixture(scope="module")
def servers(postgres, tmp_path_factory):
    db, _ = postgres
    folder = tmp_path_factory.mktemp("team")
    prefect = start_prefect_server(
        db, "127.0.0.1", free_port(), folder / "prefect-home", folder / "prefect.log"
    )
    mlflow = start_mlflow_server(
        db, "127.0.0.1", free_port(), str(folder / "mlartifacts"), folder / "mlflow.log"
    )
    try:
        create_work_pool(prefect.url, POOL)
        yield db, prefect, mlflow, folder
    finally:
        mlflow.stop()
        prefect.stop()


def tables(db, database: str) -> set[str]:
    connection = connect(db, database)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        )
        found = {row[0] for row in cursor.fetchall()}
    connection.close()
    return found


def api(url: str, body: dict | None = None):
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_prefect_and_mlflow_keep_their_data_in_postgresql(servers):
    db, prefect, mlflow, _ = servers
    assert {"flow_run", "deployment", "work_pool"} <= tables(db, db.prefect_db)
    assert {"experiments", "runs", "registered_models"} <= tables(db, db.mlflow_db)
    pools = api(f"{prefect.url}/work_pools/filter", {})
    assert POOL in {p["name"] for p in pools}
    for log in ("prefect.log", "mlflow.log"):  # the password reaches no log
        assert db.password not in (servers[3] / log).read_text(errors="replace")


def wait_for_state(url: str, run_id: str, worker, log: Path, timeout_s: float = 900) -> dict:
    """The flow run's state once it is final (or the worker died, or time ran out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = api(f"{url}/flow_runs/{run_id}")["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        assert worker.process.poll() is None, log.read_text()[-3000:]
        time.sleep(2)
    return state


def kill_with_children(pid: int) -> None:
    """SIGKILL a worker and the flow-run process it started: the machine went down mid-run."""
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        process.kill()
    psutil.wait_procs([parent], timeout=30)


def test_a_scheduled_retraining_killed_with_its_worker_finishes_on_retry_and_lands_in_mlflow(
    servers, tmp_path
):
    """The retraining deployment runs on the pool's worker; the worker and its flow run are killed
    mid-training; retried (as the UI's Retry does) on a fresh worker, the run finishes with nothing
    lost: every stage up to date, every raw series in the manifest, the MLflow runs and a registered version on the
    PostgreSQL-backed server."""
    db, prefect, mlflow, folder = servers
    project = make_dvc_project(tmp_path / "clone", mlflow.url)
    edit_params(project, lambda p: p["retrain"].update(deployment="nightly-team"))
    env = {"PREFECT_API_URL": prefect.url, "PYTHONPATH": str(REPO)}
    registered = subprocess.run(
        [sys.executable, "-m", "flows.serve", "--work-pool", POOL],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert registered.returncode == 0, registered.stderr
    assert f"registered with work pool {POOL}" in registered.stdout
    logs = [folder / "worker-killed.log", folder / "worker.log"]
    workers = []

    def start(log: Path):  # as docs/team.md says: every machine exports the shared MLflow's URL
        worker = start_worker(
            prefect.url, POOL, project, log, PYTHONPATH=str(REPO), MLFLOW_TRACKING_URI=mlflow.url
        )
        workers.append(worker)
        return worker

    try:
        [deployment] = [
            d for d in api(f"{prefect.url}/deployments/filter", {}) if d["name"] == "nightly-team"
        ]
        assert deployment["work_pool_name"] == POOL and deployment["schedules"]
        flow_run = api(f"{prefect.url}/deployments/{deployment['id']}/create_flow_run", {})
        first = start(logs[0])
        deadline = time.monotonic() + 600
        while not (project / "data/processed/index.parquet").exists():  # training starts next
            alive = time.monotonic() < deadline and first.process.poll() is None
            assert alive, logs[0].read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)
        kill_with_children(first.process.pid)
        assert flow_run["id"] in logs[0].read_text()  # the first worker had picked it up
        assert api(f"{prefect.url}/flow_runs/{flow_run['id']}")["state"]["type"] == "RUNNING"
        assert (project / ".medimg/last-good").is_dir()  # killed mid-run, before the end
        retried = api(
            f"{prefect.url}/flow_runs/{flow_run['id']}/set_state",
            {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
        )
        assert retried["status"] == "ACCEPT", retried
        second = start(logs[1])
        state = wait_for_state(prefect.url, flow_run["id"], second, logs[1])
        assert state["type"] == "COMPLETED", logs[1].read_text()[-3000:]
        assert flow_run["id"] in logs[1].read_text()
    finally:
        for worker in workers:
            worker.stop()
    assert "restoring the last good outputs first" in logs[1].read_text()
    assert not (project / ".medimg/last-good").exists()
    status = run([sys.executable, "-m", "dvc", "status", "--json"], project, stderr=False)
    assert json.loads(status) == {}, status  # every stage's outputs match dvc.lock
    manifest = pd.read_parquet(project / "data/interim/manifest.parquet")
    assert len(manifest) == 12 and (manifest["status"] == "ok").all()  # every series of the demo

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow.url)
    params = yaml.safe_load((project / "params.yaml").read_text())
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    assert experiment is not None, "the flow run logged to another MLflow store"
    finished = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
    names = {r.info.run_name for r in finished}
    assert {"evaluate", "export", "retrain-decision"} <= names, names
    assert any(name.startswith("train-") for name in names), names
    versions = client.search_model_versions(f"name='{params['tracking']['registered_model']}'")
    assert versions, "the export step registered no version on the shared server"
    connection = connect(db, db.mlflow_db)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs")
        assert cursor.fetchone()[0] == len(
            client.search_runs([e.experiment_id for e in client.search_experiments()])
        )
    connection.close()
