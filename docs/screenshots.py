"""Screenshots of the team setup for docs/team.md, taken by headless chromium (Debian's package).

    .venv/bin/python docs/screenshots.py        # writes docs/img/team-prefect-flow-run.png and
                                                 # docs/img/team-mlflow-fold-runs.png

It does what docs/team.md says, on this machine: a PostgreSQL cluster in a temporary folder, the
Prefect and MLflow servers on it (medimg.team), the retraining deployment registered with the
`medimg` work pool and run by a `prefect worker`, on a small copy of the demo project trained in
3 cross-validation folds. Then chromium photographs the worker's flow run in the Prefect UI and
the fold runs in the MLflow UI.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medimg.team.credentials import TeamDatabase  # noqa: E402
from medimg.team.postgres import (  # noqa: E402
    create_databases,
    init_cluster,
    start_cluster,
    stop_cluster,
)
from medimg.team.servers import (  # noqa: E402
    create_work_pool,
    start_mlflow_server,
    start_prefect_server,
    start_worker,
)
from tests.conftest import write_tiny_params  # noqa: E402  (the test suite's small project)

POOL = "medimg"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(url: str, body: dict | None = None):
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def screenshot(url: str, target: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1500,950",
            "--virtual-time-budget=15000",
            f"--screenshot={target}",
            url,
        ],
        check=True,
        capture_output=True,
    )


def make_project(root: Path, tracking_uri: str) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file() and name != "dvc.lock":
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    write_tiny_params(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tracking"]["uri"] = tracking_uri
    params["split"]["folds"] = 3
    params["retrain"]["deployment"] = "nightly"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=team", "-c", "user.email=team@example.org"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "project"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)


def main() -> None:
    out = REPO / "docs/img"
    scratch = Path(tempfile.mkdtemp(prefix="medimg-team-"))
    os.chmod(scratch, 0o755)  # the cluster's owner (not root) enters it
    db = TeamDatabase("127.0.0.1", free_port(), "medimg", secrets.token_urlsafe(12))
    servers = []
    try:
        init_cluster(scratch / "pg", db)
        start_cluster(scratch / "pg", db.port)
        create_databases(db)
        prefect = start_prefect_server(
            db, "127.0.0.1", free_port(), scratch / "prefect-home", scratch / "prefect.log"
        )
        servers.append(prefect)
        mlflow = start_mlflow_server(
            db, "127.0.0.1", free_port(), str(scratch / "mlartifacts"), scratch / "mlflow.log"
        )
        servers.append(mlflow)
        create_work_pool(prefect.url, POOL)
        project = scratch / "project"
        make_project(project, mlflow.url)
        env = {**os.environ, "PREFECT_API_URL": prefect.url, "PYTHONPATH": str(REPO)}
        subprocess.run(
            [sys.executable, "-m", "flows.serve", "--work-pool", POOL],
            cwd=project,
            env=env,
            check=True,
        )
        worker = start_worker(prefect.url, POOL, project, scratch / "worker.log")
        servers.append(worker)
        [deployment] = api(f"{prefect.url}/deployments/filter", {})
        run = api(f"{prefect.url}/deployments/{deployment['id']}/create_flow_run", {})
        while api(f"{prefect.url}/flow_runs/{run['id']}")["state"]["type"] not in (
            "COMPLETED",
            "FAILED",
            "CRASHED",
        ):
            time.sleep(3)
        ui = prefect.url.removesuffix("/api")
        screenshot(f"{ui}/runs/flow-run/{run['id']}", out / "team-prefect-flow-run.png")
        name = yaml.safe_load((project / "params.yaml").read_text())["tracking"]["experiment"]
        experiment = api(
            f"{mlflow.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
        )["experiment"]["experiment_id"]
        screenshot(
            f"{mlflow.url}/#/experiments/{experiment}?viewStateShareKey=&compareRunsMode=TABLE",
            out / "team-mlflow-fold-runs.png",
        )
        print(f"written: {out / 'team-prefect-flow-run.png'}, {out / 'team-mlflow-fold-runs.png'}")
    finally:
        for server in reversed(servers):
            server.stop()
        if (scratch / "pg/postmaster.pid").exists():
            stop_cluster(scratch / "pg")
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
