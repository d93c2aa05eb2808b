"""Every entry point runs without usage analytics unless the user turns them on."""

import json
import os
import subprocess
import sys

from medimg.io.quiet import OFFLINE_DEFAULTS, apply_offline_defaults
from tests.conftest import REPO


def test_missing_opt_outs_are_set_and_a_users_value_wins():
    env = {"MLFLOW_DISABLE_TELEMETRY": "false"}
    added = apply_offline_defaults(env)
    assert "MLFLOW_DISABLE_TELEMETRY" not in added and env["MLFLOW_DISABLE_TELEMETRY"] == "false"
    assert {k: env[k] for k in added} == {
        k: v for k, v in OFFLINE_DEFAULTS.items() if k != "MLFLOW_DISABLE_TELEMETRY"
    }


def test_importing_the_cli_or_the_flows_turns_analytics_off_before_prefect_reads_its_settings():
    clean = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    probe = (
        "import json, os, sys; import importlib; importlib.import_module(sys.argv[1]); "
        "from prefect.settings import get_current_settings as s; "
        "print(json.dumps([{k: os.environ.get(k) for k in sys.argv[2:]}, "
        "s().server.analytics_enabled]))"
    )
    for module in ("medimg.cli", "flows.pipeline"):
        out = subprocess.run(
            [sys.executable, "-c", probe, module, *OFFLINE_DEFAULTS],
            cwd=REPO,
            env=clean,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        values, prefect_analytics = json.loads(out)
        assert values == OFFLINE_DEFAULTS and prefect_analytics is False, module
