"""Fixtures for the flow tests: one Prefect test server for the session, and DVC projects in fresh git repos."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medimg.pipeline.steps import STEPS
from tests.conftest import REPO, write_tiny_params


def flow_task_names(first: str | None = None, last: str | None = None) -> list[str]:
    """The pipeline flow's task names in order, from the step registry and params.yaml's train
    stages, from ``first`` through ``last`` (task names such as ``train-freeze``)."""
    stages = [
        s["name"] for s in yaml.safe_load((REPO / "params.yaml").read_text())["train"]["stages"]
    ]
    names = [
        name
        for step in STEPS
        for name in (
            [f"{step.name}-{stage}" for stage in stages] if step.per_stage else [step.name]
        )
    ]
    start = names.index(first) if first else 0
    end = names.index(last) + 1 if last else len(names)
    return names[start:end]


def dvc_stage_names(first: str | None = None, last: str | None = None) -> set[str]:
    """The dvc.yaml stages of :func:`flow_task_names`."""
    return {name.replace("-", "_") for name in flow_task_names(first, last)}


def run(cmd: list[str], cwd: Path, check: bool = True, stderr: bool = True) -> str:
    """Run a command with the venv's tools first on PATH; its stdout and (unless ``stderr`` is
    False) its stderr together."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + (proc.stderr if stderr else "")


def ran_stages(output: str) -> set[str]:
    """The stages a `dvc repro` output says it ran."""
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def edit_params(root: Path, edit) -> None:
    """Load root/params.yaml, let ``edit`` change the dict, write it back."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_dvc_project(root: Path, tracking_uri: str) -> Path:
    """The working tree's tracked and unignored files with tiny params, committed in a fresh git repo."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file() and not name.startswith("dvc.lock"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    write_tiny_params(root)
    edit_params(root, lambda p: p["tracking"].update(uri=tracking_uri))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", "init", "-q"], root)
    run([*git, "commit", "-qm", "init", "--allow-empty"], root)
    run(["git", "add", "-A"], root)
    run([*git, "commit", "-qm", "project"], root)
    return root


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A real multi-process Dask cluster: `dask scheduler` and two `dask worker` processes of one
    thread each, as on a team's machines (not an in-process LocalCluster). Yields its address."""
    import socket

    from distributed import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # workers import the steps' code
    dask = [sys.executable, "-m", "distributed.cli"]
    scheduler = subprocess.Popen(
        [
            *dask[:2],
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
        ],
        cwd=REPO,
        env=env,
        stdout=(logs / "scheduler.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    workers = [
        subprocess.Popen(
            [
                *dask[:2],
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--dashboard-address",
                ":0",
                "--name",
                f"worker-{i}",
            ],
            cwd=REPO,
            env=env,
            stdout=(logs / f"worker-{i}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
