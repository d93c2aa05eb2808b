"""Importing the pipeline's libraries must not reach the network: hospitals run offline, and a
library that phones home on import leaks that a site runs it and stalls each process."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

# every outgoing connection attempt fails loudly instead of timing out quietly
PROBE = """
import socket
attempts = []
def refuse(self, address):
    attempts.append(address)
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = lambda address, *a, **k: refuse(None, address)
import medimg.train.augment.pictures, medimg.train.augment.volumes, medimg.train.datasets, medimg.models, medimg.tracking.runs
import tasks.train, tasks.evaluate, tasks.export, tasks.ingest, tasks.preprocess
print("ATTEMPTS", attempts)
"""


def test_importing_the_steps_opens_no_connection():
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
    }  # no NO_*_UPDATE switches from the caller
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ATTEMPTS []" in result.stdout, result.stdout + result.stderr[-2000:]
