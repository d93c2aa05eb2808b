"""medimg's planner beside nnunetv2's own ExperimentPlanner, on the same cases.

Both plan real MR (MSD Hippocampus, ../shared/data/hippocampus-dev, where present) and a generated
anisotropic CT set in nnU-Net's raw layout; nnunetv2 runs in a subprocess (it reads its folders
from the environment at import) through its Python API: fingerprint extraction, then
ExperimentPlanner at 8 GB. The target spacing, patch, batch, pool strides, conv kernels, features
per stage and normalisation must agree; the one difference kept, CT normalisation, is checked as
what docs/train.md lists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.nnunet_side_by_side import link_decathlon_as_nnunet
from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from medimg.config.presets import use_preset
from medimg.demo.segmentation_sets import write_segmentation_set
from medimg.ingest.manifest import read_manifest, usable
from medimg.plan.fingerprint import dataset_fingerprint
from medimg.plan.planner import make_plan
from tests.conftest import REPO

pytest.importorskip("nnunetv2", reason="nnunetv2 is the optional [reference] extra")

HIPPOCAMPUS = REPO.parent / "shared/data/hippocampus-dev"
NNUNET = """
import json, sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments
extract_fingerprints([int(sys.argv[1])], num_processes=2, check_dataset_integrity=False, clean=True,
                     verbose=False)
plan_experiments([int(sys.argv[1])], gpu_memory_target_in_gb=8)
"""


def nnunet_plan(raw: Path, dataset_id: int, work: Path) -> dict:
    """nnunetv2's 3d_fullres configuration for the nnU-Net raw folder ``raw``."""
    name = f"Dataset{dataset_id:03d}_{raw.name.replace('-', '')}"
    roots = {k: work / k for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for folder in roots.values():
        folder.mkdir(parents=True, exist_ok=True)
    (roots["nnUNet_raw"] / name).symlink_to(raw, target_is_directory=True)
    env = {**os.environ, **{k: str(v) for k, v in roots.items()}, "nnUNet_n_proc_DA": "2"}
    done = subprocess.run(
        [sys.executable, "-c", NNUNET, str(dataset_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    plans = json.loads((roots["nnUNet_preprocessed"] / name / "nnUNetPlans.json").read_text())
    assert plans["transpose_forward"] == [0, 1, 2]  # the thick axis is already first
    return plans["configurations"]["3d_fullres"]


def medimg_plan(raw: Path, project: Path, classes: int, crop: str) -> dict:
    """medimg's plan of the same training cases: ingest with the ct-seg-3d preset, then the
    planner on the fingerprint of every training case (nnU-Net plans from all of them)."""
    project.mkdir(parents=True)
    (project / "params.yaml").write_text((REPO / "params.yaml").read_text())
    use_preset("ct-seg-3d", project / "params.yaml")
    raw_params = yaml.safe_load((project / "params.yaml").read_text())
    raw_params["data"].update(raw_dir=str(raw), class_names="from_dataset")
    raw_params["model"]["num_classes"] = classes
    raw_params["preprocess"]["crop"] = crop
    raw_params["tracking"]["enabled"] = False
    (project / "params.yaml").write_text(yaml.safe_dump(raw_params))
    params = load_params(project / "params.yaml")
    paths = ProjectPaths.from_params(params, project)
    from tasks.ingest import run_ingest

    run_ingest(params, paths)
    rows = usable(read_manifest(paths.manifest))
    training = rows[(rows["split"] != "test") | (rows["split_source"] == "assigned")]
    return make_plan(dataset_fingerprint(training, paths.interim), 8.0)


def assert_same_plan(ours: dict, theirs: dict, modality: str) -> None:
    arch = theirs["architecture"]["arch_kwargs"]
    assert ours["target_spacing"] == pytest.approx(theirs["spacing"], abs=1e-3)
    assert ours["patch_size"] == theirs["patch_size"]
    assert ours["batch_size"] == theirs["batch_size"]
    assert ours["pool_strides"] == [list(s) for s in arch["strides"][1:]]
    assert ours["conv_kernels"] == [list(k) for k in arch["kernel_sizes"]]
    assert ours["features"] == list(arch["features_per_stage"])
    scheme = theirs["normalization_schemes"][0]
    if modality == "CT":  # the one difference kept: docs/train.md, "The planner beside nnunetv2"
        assert scheme == "CTNormalization" and ours["normalisation"]["normalize"] == "window"
    else:
        assert scheme == "ZScoreNormalization"
        assert ours["normalisation"]["normalize"] == "percentile_zscore"


@pytest.mark.skipif(not HIPPOCAMPUS.exists(), reason=f"{HIPPOCAMPUS} is absent (shared data)")
def test_the_plan_for_real_hippocampus_mr_is_nnunets(tmp_path):
    raw = link_decathlon_as_nnunet(HIPPOCAMPUS, tmp_path / "hippocampus")
    theirs = nnunet_plan(raw, 994, tmp_path / "nnunet")
    ours = medimg_plan(raw, tmp_path / "project", classes=3, crop="none")
    assert ours["patch_size"] == [40, 56, 40]  # as the issue recorded nnunetv2 2.8.1's
    assert_same_plan(ours, theirs, "MRI")


def test_the_plan_for_anisotropic_ct_is_nnunets(tmp_path):
    raw = tmp_path / "anisotropic-ct"
    write_segmentation_set("anisotropic-ct", raw, cases=20, test_cases=2, seed=0)
    theirs = nnunet_plan(raw, 995, tmp_path / "nnunet")
    ours = medimg_plan(raw, tmp_path / "project", classes=2, crop="none")
    assert any(k != [3, 3, 3] for k in ours["conv_kernels"])  # the thick axis is looked at later
    assert_same_plan(ours, theirs, "CT")
