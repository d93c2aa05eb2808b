"""Team credentials come from the environment or a git-ignored .env, and never reach output."""

import subprocess
import sys

import pytest

from medimg.team.credentials import TeamError, team_database
from tests.conftest import REPO


def test_the_environment_wins_over_dotenv_which_wins_over_the_defaults(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MEDIMG_DB_PASSWORD=from-file\nMEDIMG_DB_PORT=6543\nUNRELATED=x\n")
    db = team_database(env_file, environ={"MEDIMG_DB_PASSWORD": "from-env"})
    assert (db.password, db.port, db.host, db.user) == ("from-env", 6543, "127.0.0.1", "medimg")
    assert team_database(env_file, environ={}).password == "from-file"
    assert "from-env" not in repr(db) and "from-env" not in db.shown(db.mlflow_db)
    assert db.mlflow_url.startswith("postgresql+psycopg2://medimg:from-env@127.0.0.1:6543/")


def test_a_missing_password_names_the_variable_and_where_it_goes(tmp_path):
    with pytest.raises(TeamError, match="MEDIMG_DB_PASSWORD is not set"):
        team_database(tmp_path / ".env", environ={})


def test_git_ignores_the_dotenv_file():
    done = subprocess.run(["git", "check-ignore", ".env"], cwd=REPO, capture_output=True)
    assert done.returncode == 0


def test_the_cli_says_so_in_one_line_without_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "medimg", "team", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "MEDIMG_DB_PASSWORD" in done.stderr
