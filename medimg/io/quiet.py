"""Quiet, offline-friendly defaults for the tools the pipeline drives: no usage analytics, so a
machine without internet sees no telemetry errors or tracebacks. A value the user set wins."""

from __future__ import annotations

import os

# each tool's own opt-out; set a variable to turn that tool's analytics back on
OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",  # Prefect's SDK telemetry (and other tools honouring the convention)
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # the Prefect server's telemetry heartbeat
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",  # also `core.analytics = false` in .dvc/config, for plain `dvc`
}


def apply_offline_defaults(environ: dict | None = None) -> dict[str, str]:
    """Set each of OFFLINE_DEFAULTS the environment does not set; returns the ones it set."""
    env = os.environ if environ is None else environ
    added = {key: value for key, value in OFFLINE_DEFAULTS.items() if key not in env}
    env.update(added)
    return added
