"""The fingerprint of real converted volumes, and `medimg plan` on them end to end."""

import json
import shutil

import numpy as np
import pandas as pd
import yaml

from medimg.cli import main
from medimg.ingest.manifest import usable
from medimg.plan.fingerprint import dataset_fingerprint, nonzero_box_size


def test_the_crop_box_is_the_extent_of_what_is_above_the_background():
    values = np.full((10, 12, 14), -1000.0)
    values[2:5, 3:9, 1:14] = 40.0
    assert nonzero_box_size(values, -1000.0).tolist() == [3, 6, 13]


def test_the_fingerprint_of_the_tiny_ct_project(tiny, ingested):
    params, paths = tiny
    rows = usable(pd.read_parquet(paths.manifest))
    fingerprint = dataset_fingerprint(rows, paths.interim)
    spacing = np.stack([np.asarray(s, float)[::-1] for s in rows["spacing"]])  # manifest is x, y, z
    assert fingerprint["cases"] == len(rows) and fingerprint["modality"] == "CT"
    assert np.allclose(fingerprint["spacing"]["median"], np.median(spacing, axis=0), atol=1e-3)
    assert fingerprint["anisotropy"] >= 1.0
    assert fingerprint["labels"] == {
        str(k): int(n) for k, n in rows["label"].value_counts().items()
    }
    # the demo's nodules are masked: intensities are read under them (soft tissue, not air)
    assert fingerprint["intensity_foreground"]["from"] == "voxels under the masks"
    assert fingerprint["intensity_foreground"]["p50"] > -500
    assert 0 < fingerprint["label_voxel_fraction"]["1"] < 0.5
    assert all(
        1 <= n <= max(s) for n, s in zip(fingerprint["size_after_crop"]["median"], rows["shape"])
    )


def test_medimg_plan_reports_proposes_and_writes_the_params(
    tiny, ingested, tmp_path, capsys, monkeypatch
):
    params, paths = tiny
    project = tmp_path / "project"
    shutil.copytree(paths.interim, project / params.data.interim_dir)
    shutil.copy2(paths.root / "params.yaml", project / "params.yaml")
    monkeypatch.chdir(project)
    assert main(["plan"]) == 0
    plan = json.loads((project / "reports/plan.json").read_text())
    assert json.loads((project / "reports/dataset_fingerprint.json").read_text())["cases"] > 0
    out = capsys.readouterr().out
    assert f"train.batch_size: {params.train.batch_size!r} -> {plan['batch_size']!r}" in out or (
        params.train.batch_size == plan["batch_size"]
    )
    assert "preprocess.spacing: None ->" in out
    before = (project / "params.yaml").read_text()
    assert main(["plan", "--write"]) == 0
    written = yaml.safe_load((project / "params.yaml").read_text())
    assert written["preprocess"]["spacing"] == plan["target_spacing"]
    assert written["train"]["batch_size"] == plan["batch_size"]
    assert (project / "params.yaml").read_text() != before
    capsys.readouterr()
    assert main(["plan"]) == 0 and "already follows the plan" in capsys.readouterr().out


def test_a_budget_no_plan_fits_is_a_one_line_params_error_from_the_cli(
    tiny, ingested, tmp_path, capsys
):
    params, paths = tiny
    code = main(
        [
            "plan",
            "--params",
            str(paths.root / "params.yaml"),
            "--set",
            f"data.interim_dir={paths.interim}",
            "--set",
            f"data.reports_dir={tmp_path}",
            "--set",
            "plan.gpu_memory_gb=0.0001",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "the budget is 0.0001 GB (raise plan.gpu_memory_gb" in err
