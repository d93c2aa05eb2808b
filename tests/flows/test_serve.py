"""`python -m flows.serve` against a real local Prefect server on a free loopback port: the
deployment is there with the cron schedule from params, the scheduler has queued a run, and
stopping the command stops the server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.conftest import REPO, new_user_environ, write_tiny_params
from tests.flows.conftest import edit_params


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def wait_for(what: str, probe, timeout_s: float, process):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"flows.serve exited early while waiting for {what}"
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout_s} s")


def test_serve_schedules_retraining_and_the_pacs_watcher_on_a_local_server_and_stops_it(
    tmp_path,
):
    write_tiny_params(tmp_path)
    edit_params(
        tmp_path,
        lambda p: (
            p["retrain"].update(cron="30 4 * * *", timezone="Europe/Berlin", deployment="nightly"),
            p["pacs"]["watch"].update(poll_s=5400, deployment="watcher"),
        ),
    )
    port = free_port()
    env = new_user_environ("PREFECT_API")  # flows.serve itself must turn analytics off
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PYTHONPATH=str(REPO),
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
    )  # schedule within seconds, not a minute
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.serve", "--port", str(port), "--watch"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deployment = wait_for(
            "deployment", lambda: api(f"{base}/deployments/name/medimg-retrain/nightly"), 180, serve
        )
        [schedule] = deployment["schedules"]
        assert (
            schedule["schedule"]["cron"] == "30 4 * * *"
            and schedule["schedule"]["timezone"] == "Europe/Berlin"
        )
        assert deployment["parameters"]["root"] == str(tmp_path)
        # serve registers its deployments one after the other: the watcher's may come a moment later
        watcher = wait_for(
            "watcher deployment",
            lambda: api(f"{base}/deployments/name/medimg-pacs-watch/watcher"),
            60,
            serve,
        )
        assert [s["schedule"]["interval"] for s in watcher["schedules"]] == [5400.0]
        # the UI calls the API that is served here, not Prefect's default port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui-settings", timeout=10) as r:
            assert json.load(r)["api_url"] == base
        runs = wait_for(
            "scheduled run",
            lambda: api(
                f"{base}/flow_runs/filter",
                {
                    "deployments": {"id": {"any_": [deployment["id"]]}},
                    "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                },
            ),
            120,
            serve,
        )
        when = datetime.fromisoformat(runs[0]["expected_start_time"]).astimezone(
            ZoneInfo("Europe/Berlin")
        )
        assert (when.hour, when.minute) == (4, 30) and when > datetime.now(UTC)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            output, _ = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            output, _ = serve.communicate()
    assert serve.returncode == 0, output[-3000:]
    assert "ERROR" not in output and "Traceback" not in output, output[-3000:]
    with socket.socket() as probe:  # the server went with it
        assert probe.connect_ex(("127.0.0.1", port)) != 0
