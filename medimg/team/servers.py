"""The team's servers as child processes: `prefect server start` and `mlflow server` on the shared
PostgreSQL, and a process worker on a Prefect work pool. The database URLs (with the password)
reach them through their environment only: not the command line, which `ps` shows, nor a log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from medimg.io.quiet import OFFLINE_DEFAULTS
from medimg.team.credentials import TeamDatabase, TeamError


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self, timeout_s: float = 30) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start(
    name: str, cmd: list[str], env: dict, log: Path, health: str, url: str, timeout_s: float
):
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    process = subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    server = ServerProcess(name, process, url, log)
    deadline = time.monotonic() + timeout_s
    while not answers(health):
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise TeamError(f"{name} exited with code {process.returncode}: {tail[0]} (log: {log})")
        if time.monotonic() > deadline:
            server.stop()
            raise TeamError(f"{name} did not answer on {url} within {timeout_s:.0f} s (log: {log})")
        time.sleep(0.5)
    return server


def quiet_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **OFFLINE_DEFAULTS, **extra}


def start_prefect_server(
    db: TeamDatabase, host: str, port: int, home: Path, log: Path, timeout_s: float = 180
) -> ServerProcess:
    """`prefect server start` with its database on the shared PostgreSQL."""
    api = f"http://{host}:{port}/api"
    env = quiet_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=db.prefect_url,
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_API_URL=api,
        PREFECT_UI_API_URL=api,
    )
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    return _start("prefect server", cmd, env, log, f"{api}/health", api, timeout_s)


def start_mlflow_server(
    db: TeamDatabase, host: str, port: int, artifacts: str, log: Path, timeout_s: float = 180
) -> ServerProcess:
    """`mlflow server` with its runs and registry on the shared PostgreSQL and its artifacts under
    ``artifacts`` (a folder every machine mounts, or an object store URI), served through it."""
    url = f"http://{host}:{port}"
    env = quiet_env(
        MLFLOW_BACKEND_STORE_URI=db.mlflow_url,
        MLFLOW_ARTIFACTS_DESTINATION=artifacts,
        MLFLOW_HOST=host,
        MLFLOW_PORT=str(port),
    )
    cmd = [sys.executable, "-m", "mlflow", "server", "--workers", "1"]
    return _start("mlflow server", cmd, env, log, f"{url}/health", url, timeout_s)


def create_work_pool(api_url: str, pool: str) -> None:
    """A process work pool named ``pool`` on the server (kept as it is when it exists)."""
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", pool, "--type", "process"],
        env=quiet_env(PREFECT_API_URL=api_url),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 and "already exists" not in done.stdout + done.stderr:
        raise TeamError(f"work pool {pool}: {(done.stderr or done.stdout).strip()[-300:]}")


def start_worker(api_url: str, pool: str, cwd: Path, log: Path, **env: str) -> ServerProcess:
    """`prefect worker start` on ``pool``, running its flow runs from ``cwd``."""
    out = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        cwd=cwd,
        env=quiet_env(PREFECT_API_URL=api_url, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return ServerProcess(f"worker on {pool}", process, api_url, log)
