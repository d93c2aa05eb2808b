"""The team's servers on a real PostgreSQL: Prefect and MLflow keep their data in it, and the
scheduled retraining registered with a process work pool runs on that pool's worker, its MLflow
runs and registered version landing in the PostgreSQL-backed MLflow server."""

import json
import os
import subprocess
import sys
import time
import urllib.request

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
from tests.flows.conftest import edit_params, make_dvc_project
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


def test_scheduled_retraining_runs_on_the_pool_worker_and_lands_in_the_shared_mlflow(
    servers, tmp_path
):
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
    worker = start_worker(  # as docs/team.md says: every machine exports the shared MLflow's URL
        prefect.url,
        POOL,
        project,
        folder / "worker.log",
        PYTHONPATH=str(REPO),
        MLFLOW_TRACKING_URI=mlflow.url,
    )
    try:
        [deployment] = [
            d for d in api(f"{prefect.url}/deployments/filter", {}) if d["name"] == "nightly-team"
        ]
        assert deployment["work_pool_name"] == POOL and deployment["schedules"]
        run = api(f"{prefect.url}/deployments/{deployment['id']}/create_flow_run", {})
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            state = api(f"{prefect.url}/flow_runs/{run['id']}")["state"]
            if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            assert worker.process.poll() is None, (folder / "worker.log").read_text()[-3000:]
            time.sleep(3)
        assert state["type"] == "COMPLETED", (folder / "worker.log").read_text()[-3000:]
    finally:
        worker.stop()
    flow_run = api(f"{prefect.url}/flow_runs/{run['id']}")
    assert (
        flow_run["work_pool_name"] == POOL and flow_run["worker_id"]
        if "worker_id" in flow_run
        else True
    )
    assert run["id"] in (folder / "worker.log").read_text()  # the worker picked it up

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow.url)
    params = yaml.safe_load((project / "params.yaml").read_text())
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    runs = client.search_runs([experiment.experiment_id])
    assert {"train", "evaluate", "export"} <= {r.data.tags.get("medimg.step") for r in runs} or len(
        runs
    ) >= 3
    versions = client.search_model_versions(f"name='{params['tracking']['registered_model']}'")
    assert versions, "the export step registered no version on the shared server"
    connection = connect(db, db.mlflow_db)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs")
        assert cursor.fetchone()[0] == len(
            client.search_runs([e.experiment_id for e in client.search_experiments()])
        )
    connection.close()
