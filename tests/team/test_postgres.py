"""The shared PostgreSQL: a right login reaches both databases, a wrong password is one clear line."""

import subprocess
import sys

from medimg.team.credentials import TeamDatabase
from medimg.team.postgres import start_cluster
from tests.team.conftest import db_environ, free_port


def team_check(tmp_path, env):
    return subprocess.run(
        [sys.executable, "-m", "medimg", "team", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_team_check_reaches_both_databases(postgres, tmp_path):
    db, _ = postgres
    done = team_check(tmp_path, db_environ(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"postgresql://medimg@127.0.0.1:{db.port}/prefect: reachable",
        f"postgresql://medimg@127.0.0.1:{db.port}/mlflow: reachable",
    ]
    assert db.password not in done.stdout + done.stderr


def test_a_wrong_password_is_one_line_that_says_what_to_check(postgres, tmp_path):
    db, _ = postgres
    wrong = "not-the-password-42"
    done = team_check(tmp_path, db_environ(db, MEDIMG_DB_PASSWORD=wrong))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "password authentication failed for user 'medimg'" in lines[0]
    assert (
        "MEDIMG_DB_PASSWORD" in lines[0] and wrong not in lines[0] and db.password not in lines[0]
    )


def test_no_server_on_the_port_is_one_line_that_names_host_and_port(tmp_path):
    """No PostgreSQL needed: nothing listens on the port, as before `medimg team postgres`."""
    db = TeamDatabase("127.0.0.1", free_port(), "medimg", "some-password")
    done = team_check(tmp_path, db_environ(db))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert f"127.0.0.1:{db.port}" in line and "Connection refused" in line, line
    assert "MEDIMG_DB_HOST and MEDIMG_DB_PORT" in line and "\t" not in line
    assert "some-password" not in line


def test_starting_a_running_cluster_again_is_a_no_op(postgres, tmp_path):
    """`medimg team postgres DIR` twice (a rerun after a reboot script) does not fail."""
    db, data = postgres
    start_cluster(data, db.port, db.host)
    assert team_check(tmp_path, db_environ(db)).returncode == 0
