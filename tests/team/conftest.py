"""A real PostgreSQL cluster for the team tests: initdb and pg_ctl in a temporary folder, as a
non-root user, on a free loopback port, as the PACS tests start Orthanc."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from medimg.team.credentials import TeamDatabase
from medimg.team.postgres import (
    create_databases,
    init_cluster,
    postgres_binaries,
    start_cluster,
    stop_cluster,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def db_environ(db: TeamDatabase, **changes: str) -> dict[str, str]:
    """The environment a team member's shell has: the shared database's settings."""
    env = {
        **os.environ,
        "MEDIMG_DB_HOST": db.host,
        "MEDIMG_DB_PORT": str(db.port),
        "MEDIMG_DB_USER": db.user,
        "MEDIMG_DB_PASSWORD": db.password,
        "MEDIMG_PREFECT_DB": db.prefect_db,
        "MEDIMG_MLFLOW_DB": db.mlflow_db,
    }
    env.update(changes)
    return env


@pytest.fixture(scope="session")
def postgres():
    """(TeamDatabase, data folder) of a running cluster with the Prefect and MLflow databases."""
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as a non-root user")
    # a folder the cluster's owner can enter (pytest's own temp folders are root's alone)
    folder = Path(tempfile.mkdtemp(prefix="medimg-pg-"))
    os.chmod(folder, 0o755)
    db = TeamDatabase("127.0.0.1", free_port(), "medimg", secrets.token_urlsafe(12))
    data = folder / "data"
    try:
        init_cluster(data, db)
        start_cluster(data, db.port)
        create_databases(db)
        yield db, data
    finally:
        if (data / "postmaster.pid").exists():
            stop_cluster(data)
        shutil.rmtree(folder, ignore_errors=True)
