"""A DVC remote moves the model between two clones: `dvc push` from one, `dvc pull` in a fresh
clone of the git repository, and `medimg predict` answers the same probabilities in both."""

import json
import shutil
import subprocess
import sys

from tests.conftest import predict_without_torch


def sh(cmd, cwd):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_second_clone_pulls_the_model_and_predicts_the_same(tiny, exported, tmp_path):
    _, paths = tiny
    dvc, git = [sys.executable, "-m", "dvc"], ["git", "-c", "user.name=a", "-c", "user.email=a@a"]
    first, second, remote = tmp_path / "site-a", tmp_path / "site-b", tmp_path / "shared-remote"
    first.mkdir()
    sh(["git", "init", "-q"], first)
    sh([*dvc, "init", "-q"], first)
    shutil.copytree(paths.artifacts, first / "artifacts")
    sh([*dvc, "add", "artifacts"], first)
    sh([*dvc, "remote", "add", "-d", "team", str(remote)], first)  # a folder every machine mounts
    sh(["git", "add", "-A"], first)
    sh([*git, "commit", "-qm", "model"], first)
    sh([*dvc, "push"], first)

    sh(["git", "clone", "-q", str(first), str(second)], tmp_path)
    assert not (second / "artifacts").exists()  # git holds the pointer, not the model
    sh([*dvc, "pull"], second)

    series = sorted(
        {
            p.parent
            for p in paths.raw.rglob("*")
            if p.is_file() and p.parent.parent.parent == paths.raw
        }
    )[0]
    answers = []
    for clone in (first, second):
        done = predict_without_torch(series, clone / "artifacts")
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout)[0]["probabilities"])
    assert answers[0] == answers[1]
