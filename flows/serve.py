"""Scheduled retraining, one command: `python -m flows.serve`.

With ``--watch`` it also serves the PACS watcher (flows/watch.py) on an interval of
``pacs.watch.poll_s`` seconds. Starts a local Prefect server (its default SQLite database under PREFECT_HOME) unless PREFECT_API_URL
already points at one, then serves the retraining flow as a deployment with the cron schedule in
params.yaml (retrain.cron, retrain.timezone). Run history, logs and the next scheduled runs show in
the Prefect UI at the printed address. Ctrl-C stops serving and the server it started.

With ``--work-pool NAME`` nothing is served here: the deployment is registered with that work pool
on the server PREFECT_API_URL names, and the pool's workers run it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from medimg.config.schema import Params, ParamsError

FLOW_ENTRYPOINT = "flows/retrain.py:retrain"


def server_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def local_server(host: str, port: int, startup_timeout_s: float = 120.0):
    """A `prefect server start` subprocess for the block's duration; yields its API URL."""
    api_url = f"http://{host}:{port}/api"
    if server_healthy(api_url):
        raise RuntimeError(f"something already answers on {host}:{port}; choose another --port")
    # `prefect server start --port` moves the API but not the URL the UI calls, which Prefect
    # derives from these settings (4200 by default): set them so the UI follows the served address
    env = {
        **os.environ,
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_API_URL": api_url,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server_healthy(api_url):
            if server.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server exited with code {server.returncode} while starting"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Prefect server did not answer on {api_url} within {startup_timeout_s:.0f} s"
                )
            time.sleep(0.5)
        yield api_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def retrain_schedule(params: Params):
    from prefect.schedules import Cron

    return Cron(params.retrain.cron, timezone=params.retrain.timezone)


def serve_retraining(params: Params, params_file: str, root: Path, watch: bool = False) -> None:
    """Serve the retraining deployment (and with ``watch`` the PACS watcher, polling every
    ``pacs.watch.poll_s``) from this process until interrupted."""
    from prefect import serve

    from flows.retrain import retrain

    parameters = {"params_file": params_file, "root": str(root)}
    deployments = [
        retrain.to_deployment(
            name=params.retrain.deployment,
            schedules=[retrain_schedule(params)],
            parameters=parameters,
            description="Scheduled retraining with champion/challenger promotion (medimg)",
        )
    ]
    if watch:
        from flows.watch import watch_pacs

        deployments.append(
            watch_pacs.to_deployment(
                name=params.pacs.watch.deployment,
                interval=params.pacs.watch.poll_s,
                parameters=parameters,
                description="Answer new PACS studies with the bundle's SEG/SR (medimg)",
            )
        )
    serve(*deployments)


def deploy_to_work_pool(params: Params, params_file: str, root: Path, work_pool: str) -> None:
    """Register the deployment with an existing work pool; its workers fetch the code from ``root``."""
    from prefect import Flow

    flow = Flow.from_source(source=str(root), entrypoint=FLOW_ENTRYPOINT)
    flow.deploy(
        name=params.retrain.deployment,
        work_pool_name=work_pool,
        schedules=[retrain_schedule(params)],
        parameters={"params_file": params_file, "root": str(root)},
        build=False,
        push=False,
        print_next_steps=False,  # our one line below says where it went and what runs it
        ignore_warnings=True,  # "consider .serve": a team wants the pool's worker on the GPU box
    )


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop) ends serving as Ctrl-C does, so the server is stopped too."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve scheduled retraining with a local Prefect server."
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the local server (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=4200, help="port of the local server (default 4200)"
    )
    parser.add_argument(
        "--work-pool", help="register with this work pool on PREFECT_API_URL instead of serving"
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="also serve the PACS watcher (flows/watch.py), polling every pacs.watch.poll_s",
    )
    args = parser.parse_args(argv)
    from medimg.pipeline.checks import load_checked_params

    root = Path.cwd()
    try:
        params = load_checked_params(args.params, None, str(root))
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from prefect.settings import PREFECT_API_URL, temporary_settings

    existing = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if args.work_pool:
        if not existing:
            print(
                "error: --work-pool needs PREFECT_API_URL set to the server that has the pool",
                file=sys.stderr,
            )
            return 2
        deploy_to_work_pool(params, args.params, root, args.work_pool)
        print(
            f"deployment {params.retrain.deployment} registered with work pool {args.work_pool} at {existing}"
        )
        return 0
    _stop_on_sigterm()
    try:
        if existing:
            print(f"serving on the Prefect server at {existing}")
            serve_retraining(params, args.params, root, args.watch)
            return 0
        with local_server(args.host, args.port) as api_url:
            os.environ["PREFECT_API_URL"] = api_url  # the flow runs the runner starts inherit it
            print(
                f"Prefect UI: {api_url.removesuffix('/api')}  (schedule: {params.retrain.cron} "
                f"{params.retrain.timezone})"
            )
            with temporary_settings({PREFECT_API_URL: api_url}):
                serve_retraining(params, args.params, root, args.watch)
    except KeyboardInterrupt:
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
