"""Ingest and preprocess of the demo CT set on a real Dask cluster: 1 worker against 2, and a worker
killed mid-run.

    .venv/bin/python bench/dask_workers.py                 # 1 and 2 workers, then 2 with one killed
    .venv/bin/python bench/dask_workers.py --kill-after 8  # seconds into the run the kill comes

For each run a fresh project folder gets the demo's raw CT series (data/raw/ct-nodule, made by
`dvc repro demo_data` or `medimg run demo-data`), and the pipeline flow runs ingest and preprocess
with `orchestration.task_runner: dask` on a `dask scheduler` with N `dask worker` processes of one
thread each, started here. Printed: wall seconds per run, the ratio 1 worker / 2 workers, whether
every run's manifest, index and tensor cache equal a single-process run's (same salt), and the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")

from flows.pipeline import pipeline_for  # noqa: E402
from medimg.config.loading import load_params  # noqa: E402
from medimg.config.paths import ProjectPaths  # noqa: E402

SALT = "bench-dask-workers-salt"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def start_cluster(workers: int) -> tuple[str, list[subprocess.Popen]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": REPO}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0"],
        **quiet,
    )  # fmt: skip
    procs = [scheduler] + [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--dashboard-address",
                ":0",
            ],
            **quiet,
        )  # fmt: skip
        for _ in range(workers)
    ]
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def make_project(root: Path, raw: Path, address: str | None) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(
        raw_dir=str(raw),
        interim_dir=str(root / "interim"),
        processed_dir=str(root / "processed"),
        reports_dir=str(root / "reports"),
    )
    params["ingest"]["workers"] = 1  # one process per task: the cluster is the parallelism
    if address:
        params["orchestration"].update(task_runner="dask", dask={"address": address})
    root.mkdir(parents=True)
    (root / ".medimg").mkdir()
    (root / ".medimg/salt").write_text(SALT)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def outputs_digest(paths: ProjectPaths) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    for table in (paths.manifest, paths.index):
        digest.update(pd.read_parquet(table).to_csv(index=False).encode())
    for tensor in sorted(paths.cache.glob("*.npy")):
        digest.update(tensor.name.encode() + tensor.read_bytes())
    return digest.hexdigest()


def run_once(scratch: Path, raw: Path, workers: int, kill_after: float | None) -> dict:
    address, procs = start_cluster(workers) if workers else (None, [])
    root = scratch / f"w{workers}{'-kill' if kill_after else ''}"
    params_file = make_project(root, raw, address)
    params = load_params(params_file)
    killed = {}
    if kill_after:

        def kill_one():
            time.sleep(kill_after)
            procs[1].send_signal(signal.SIGKILL)
            killed["at_s"] = kill_after

        threading.Thread(target=kill_one, daemon=True).start()
    try:
        tic = time.perf_counter()
        state = pipeline_for(params)(
            params_file=str(params_file), root=str(root), until="preprocess", return_state=True
        )
        seconds = time.perf_counter() - tic
        assert state.is_completed(), state.message
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    paths = ProjectPaths.from_params(params, root)
    return {
        "workers": workers or "none (single process)",
        "seconds": round(seconds, 1),
        "killed_worker": killed or None,
        "digest": outputs_digest(paths),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=REPO / "data/raw/ct-nodule")
    parser.add_argument("--kill-after", type=float, default=6.0)
    args = parser.parse_args()
    if not args.raw.is_dir():
        raise SystemExit(f"{args.raw}: not there; run `medimg run demo-data` first")
    os.environ["MEDIMG_SALT"] = SALT
    with tempfile.TemporaryDirectory(prefix="medimg-dask-") as scratch:
        runs = [
            run_once(Path(scratch), args.raw, n, k)
            for n, k in ((0, None), (1, None), (2, None), (2, args.kill_after))
        ]
    reference = runs[0]["digest"]
    print(
        json.dumps(
            {
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "runs": [{**r, "equal_to_single_process": r["digest"] == reference} for r in runs],
                "speed_up_2_over_1": round(runs[1]["seconds"] / runs[2]["seconds"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
