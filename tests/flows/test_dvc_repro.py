"""`dvc repro` end to end in a temporary git repository holding the project's files and tiny params."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.flows.conftest import dvc_stage_names, make_dvc_project, ran_stages, run


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    # relative, as a user's would be: dvc runs every stage from the project folder
    return make_dvc_project(tmp_path_factory.mktemp("clone"), "sqlite:///mlflow.db")


def test_repro_builds_every_output_then_reruns_only_what_an_edit_touches(project):
    first = run([sys.executable, "-m", "dvc", "repro"], project)
    assert ran_stages(first) == dvc_stage_names()
    manifest = pd.read_parquet(project / "data/interim/manifest.parquet")
    assert len(manifest) == 12 and (manifest["status"] == "ok").all()
    assert len(pd.read_parquet(project / "data/processed/index.parquet")) == 12
    for stage in ("freeze", "unfreeze"):
        assert (project / "models" / stage / "ckpt.pt").stat().st_size > 0
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert {"auc", "auc_low", "sensitivity", "specificity", "threshold", "ece"} <= set(metrics)
    assert (
        json.loads((project / "artifacts/export_report.json").read_text())["parity"]["max_abs_diff"]
        < 1e-3
    )
    assert "metrics.json" in run([sys.executable, "-m", "dvc", "metrics", "show"], project)

    assert ran_stages(run([sys.executable, "-m", "dvc", "repro"], project)) == set()
    assert "up to date" in run([sys.executable, "-m", "dvc", "status"], project)

    # one experiment from the command line, as a sweep would queue them: only what reads the param reruns
    experiment = run(
        [sys.executable, "-m", "dvc", "exp", "run", "-S", "evaluate.bootstrap.resamples=150"],
        project,
    )
    # evaluation.json, which export reads for the operating point, changes with its intervals
    assert "evaluate" in ran_stages(experiment) <= {"evaluate", "export"}
    shown = json.loads(
        run([sys.executable, "-m", "dvc", "exp", "show", "--json"], project, stderr=False)
    )
    experiments = [
        rev["data"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    ]
    [ours] = [
        e
        for e in experiments
        if e["params"]["params.yaml"]["data"]["evaluate"]["bootstrap"]["resamples"] == 150
    ]
    assert "auc" in ours["metrics"].get("reports/metrics.json", {}).get("data", {}), ours["metrics"]
    assert (
        yaml.safe_load((project / "params.yaml").read_text())["evaluate"]["bootstrap"]["resamples"]
        == 150
    )

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["stages"][1]["lr_head"] = 0.0005
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the plan times the training step for a 3D U-Net's compute budget, so it tracks train too;
    # its plan.json comes out the same, and preprocess does not rerun
    assert ran_stages(run([sys.executable, "-m", "dvc", "repro"], project)) == {
        "plan",
        "train_freeze",
        "train_unfreeze",
        "evaluate",
        "export",
    }

    # an edit to any file a stage imports marks that stage and what follows it as changed, and nothing else
    loop = project / "medimg/train/loop.py"
    loop.write_text(loop.read_text() + "\n# an edit\n")
    changed = json.loads(
        run([sys.executable, "-m", "dvc", "status", "--json"], project, stderr=False)
    )
    assert set(changed) == {"plan", "train_freeze", "train_unfreeze", "evaluate", "export"}
    assert "medimg/train" in json.dumps(changed["train_freeze"])


def test_each_metrics_file_fits_a_terminal_in_dvc_metrics_show(project):
    """Metrics files hold headline figures only; the full reports are outputs beside them."""
    files = sorted(
        json.loads(
            run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], project, stderr=False)
        )[""]["data"]
    )
    assert {
        "reports/ingest_metrics.json",
        "models/freeze/metrics.json",
        "models/unfreeze/metrics.json",
        "reports/metrics.json",
        "reports/promises.json",
        "artifacts/export_metrics.json",
    } == set(files)
    for name in files:
        table = run([sys.executable, "-m", "dvc", "metrics", "show", name], project, stderr=False)
        widest = max(len(line.rstrip()) for line in table.splitlines())
        assert widest <= 120, f"dvc metrics show {name} is {widest} columns wide:\n{table}"
