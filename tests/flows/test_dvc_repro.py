"""`dvc repro` end to end in a temporary git repository holding the project's files and tiny params."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, write_tiny_params


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The working tree's tracked and unignored files, committed in a fresh git repo."""
    root = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    write_tiny_params(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["tracking"]["uri"] = "sqlite:///mlflow.db"  # relative, as a user's would be
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "init", "--allow-empty"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project"], root)
    return root


def test_repro_builds_every_output_then_reruns_only_what_an_edit_touches(project):
    first = run([sys.executable, "-m", "dvc", "repro"], project)
    assert ran_stages(first) == {"demo_data", "ingest", "preprocess", "train_freeze", "train_unfreeze",
                                 "evaluate", "export"}
    manifest = pd.read_parquet(project / "data/interim/manifest.parquet")
    assert len(manifest) == 12 and (manifest["status"] == "ok").all()
    assert len(pd.read_parquet(project / "data/processed/index.parquet")) == 12
    for stage in ("freeze", "unfreeze"):
        assert (project / "models" / stage / "ckpt.pt").stat().st_size > 0
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert {"auc", "sensitivity", "specificity"} <= set(metrics)
    assert json.loads((project / "artifacts/export_report.json").read_text())["parity"]["same_predictions"]
    assert "metrics.json" in run([sys.executable, "-m", "dvc", "metrics", "show"], project)

    assert ran_stages(run([sys.executable, "-m", "dvc", "repro"], project)) == set()
    assert "up to date" in run([sys.executable, "-m", "dvc", "status"], project)

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["stages"][1]["lr_head"] = 0.0005
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran_stages(run([sys.executable, "-m", "dvc", "repro"], project)) == {
        "train_freeze", "train_unfreeze", "evaluate", "export"}
