"""A PostgreSQL cluster for the team's Prefect and MLflow servers: made with initdb and run with
pg_ctl from Debian's postgresql package, as a non-root operating-system user (PostgreSQL refuses
root; run as root, the commands run as MEDIMG_PG_OS_USER, default ``postgres``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from medimg.team.credentials import TeamDatabase, TeamError

OS_USER = os.environ.get("MEDIMG_PG_OS_USER", "postgres")


def postgres_binaries() -> str | None:
    """The folder of initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return str(Path(found).parent)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return str(versions[-1].parent) if versions else None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(_as_owner(cmd), capture_output=True, text=True)
    if done.returncode != 0:
        raise TeamError(f"{what} failed: {(done.stderr or done.stdout).strip().splitlines()[-1]}")


def init_cluster(data_dir: Path, db: TeamDatabase) -> None:
    """A new cluster in ``data_dir`` whose superuser is ``db.user`` with ``db.password``, which
    every TCP connection must give (scram-sha-256)."""
    binaries = postgres_binaries()
    if binaries is None:
        raise TeamError("initdb not found: install PostgreSQL (apt-get install postgresql)")
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, OS_USER)
    # the password goes through a file only the owner reads, never the command line
    with tempfile.NamedTemporaryFile("w", dir=data_dir.parent, delete=False) as pwfile:
        pwfile.write(db.password)
    try:
        if os.geteuid() == 0:
            shutil.chown(pwfile.name, OS_USER)
        os.chmod(pwfile.name, 0o600)
        _run(
            [
                f"{binaries}/initdb",
                "-D",
                str(data_dir),
                "-U",
                db.user,
                f"--pwfile={pwfile.name}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E",
                "UTF8",
            ],
            "initdb",
        )
    finally:
        os.unlink(pwfile.name)


def start_cluster(data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Start the cluster on ``host``:``port`` (its socket in ``data_dir``) and wait until it is up."""
    binaries = postgres_binaries()
    status = subprocess.run(
        _as_owner([f"{binaries}/pg_ctl", "-D", str(data_dir), "status"]), capture_output=True
    )
    if status.returncode == 0:  # already running: a second `medimg team postgres` is a no-op
        return
    options = f"-p {port} -c listen_addresses={host} -k {data_dir}"
    _run(
        [
            f"{binaries}/pg_ctl",
            "-D",
            str(data_dir),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        "pg_ctl start",
    )


def stop_cluster(data_dir: Path) -> None:
    _run(
        [f"{postgres_binaries()}/pg_ctl", "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        "pg_ctl stop",
    )


def connect(db: TeamDatabase, database: str):
    """A psycopg2 connection; a TeamError of one line when the server refuses or is not there."""
    import psycopg2

    try:
        return psycopg2.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password,
            dbname=database,
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        raise TeamError(
            f"PostgreSQL at {db.host}:{db.port} ({database}): {connection_problem(str(exc), db.user)}"
        ) from None


def connection_problem(message: str, user: str) -> str:
    """psycopg2's multi-line refusal as one reason and the settings to check for it."""
    if "password authentication failed" in message:
        return (
            f"password authentication failed for user {user!r}; check MEDIMG_DB_USER and "
            "MEDIMG_DB_PASSWORD (environment or .env)"
        )
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0].rsplit(" failed: ", 1)[-1] if lines else "no answer"
    return (
        f"{first}; check MEDIMG_DB_HOST and MEDIMG_DB_PORT, and that the server runs "
        "(medimg team postgres DIR starts one)"
    )


def create_databases(db: TeamDatabase) -> list[str]:
    """Create the Prefect and MLflow databases that do not exist yet; returns those it created."""
    connection = connect(db, "postgres")
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    created = []
    with connection.cursor() as cursor:  # not `with connection`: that opens a transaction
        for name in (db.prefect_db, db.mlflow_db):
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    connection.close()
    return created


def check_databases(db: TeamDatabase) -> list[str]:
    """One line per database the team uses, each reached with the credentials given."""
    lines = []
    for name in (db.prefect_db, db.mlflow_db):
        connect(db, name).close()
        lines.append(f"{db.shown(name)}: reachable")
    return lines
