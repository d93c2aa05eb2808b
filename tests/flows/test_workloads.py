"""Each workload preset end to end on reduced demo data, one epoch a stage: raw → ingest → preprocess
→ train (freeze, unfreeze) → evaluate → export (parity-checked ONNX) → torch-free predict.

The presets are applied to the repo's params.yaml exactly as `medimg params use` does; only sizes
shrink. The default preset (ct-nodule-cls) runs through the shared tiny project and `dvc repro`.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from medimg.config.presets import use_preset
from medimg.config.schema import FundusDemo, SkinLesionDemo
from medimg.deploy.bundle import load_bundle_spec
from tests.conftest import REPO, predict_without_torch

SHRINK_3D = {"ct-seg-2d": [16, 32, 32], "ct-seg-3d": [32, 32, 48]}


@pytest.fixture(scope="session")
def skin_raw(tmp_path_factory):
    from medimg.demo.datasets import generate_skin_lesion

    out = tmp_path_factory.mktemp("skin") / "skin-lesion"
    generate_skin_lesion(SkinLesionDemo(patients=10, photos_per_patient=2, size=64), 3, out)
    return out


@pytest.fixture(scope="session")
def fundus_raw(tmp_path_factory):
    from medimg.demo.datasets import generate_fundus_dr

    out = tmp_path_factory.mktemp("fundus") / "fundus-dr"
    generate_fundus_dr(FundusDemo(patients=12, size=64), 3, out)
    return out


def _project(tmp_path, preset: str, raw_dir) -> tuple:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    use_preset(preset, tmp_path / "params.yaml")
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["data"]["raw_dir"] = str(raw_dir)
    raw["split"]["ratios"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    raw["split"]["folds"] = 1  # a dozen patients: one train/val split
    raw["preprocess"]["photo"]["size"] = [64, 64]
    raw["preprocess"]["target_shape"] = SHRINK_3D.get(preset, [32, 32, 32])
    if raw["sampling"]["patches"]["size"]:
        raw["sampling"]["patches"]["size"] = [32, 32, 32]
    raw["model"].update(width=4, head_hidden=16)
    # fp32 and deterministic kernels: one epoch of a width-4 net in bf16 (oneDNN's kernels are not
    # bitwise reproducible) lands on a different model each run, and these checks must not depend on it
    raw["train"].update(batch_size=4, bn_recompute_batches=2, deterministic=True)
    for stage in raw["train"]["stages"]:
        stage["epochs"] = 1
    raw["evaluate"]["bootstrap"]["resamples"] = 200
    raw["export"].update(parity_samples=4, calibration_samples=4)
    # ct-seg-3d mirrors on 3 axes: 8 passes per window; tests/tasks/test_kfold covers mirroring
    raw["evaluate"]["tta"] = []
    raw["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(tmp_path / "params.yaml")
    return params, ProjectPaths.from_params(params, tmp_path)


def _dvc_outputs(paths) -> list:
    """Every file dvc.yaml declares for evaluate and export: a missing one fails `dvc repro`."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    names = []
    for stage in ("evaluate", "export"):
        for kind in ("outs", "metrics", "plots"):
            names += [
                next(iter(entry)) if isinstance(entry, dict) else entry
                for entry in stages[stage].get(kind, [])
            ]
    folders = {"${data.reports_dir}": paths.reports, "${data.artifacts_dir}": paths.artifacts}
    return [folders[name.split("/")[0]] / name.split("/", 1)[1] for name in names]


def _run_pipeline(params, paths) -> tuple[dict, dict]:
    from tasks.evaluate import run_evaluate
    from tasks.export import run_export
    from tasks.ingest import run_ingest
    from tasks.preprocess import run_preprocess
    from tasks.train import run_train

    run_ingest(params, paths)
    run_preprocess(params, paths)
    for stage in params.train.stages:
        run_train(params, paths, stage.name)
    run_evaluate(params, paths)
    exported = run_export(params, paths)
    missing = [str(path) for path in _dvc_outputs(paths) if not path.exists()]
    assert not missing, f"declared in dvc.yaml but not written: {missing}"
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    return metrics, exported


def _assert_parity(paths) -> None:
    parity = json.loads((paths.artifacts / "export_report.json").read_text())["parity"]
    assert parity["max_abs_diff"] <= parity["atol"] + parity["rtol"] * parity["max_abs_logit"]


def test_fundus_grading_runs_end_to_end(tmp_path, fundus_raw):
    params, paths = _project(tmp_path, "fundus-dr", fundus_raw)
    assert params.model.name == "resnet50" and params.model.num_classes == 5
    metrics, exported = _run_pipeline(params, paths)
    assert "quadratic_kappa" in metrics and "quadratic_kappa" in exported["quality"]["ort_fp32"]
    _assert_parity(paths)
    bundle = load_bundle_spec(paths.artifacts)
    assert bundle.input_shape == [3, 64, 64] and bundle.ndim == 2
    photo = sorted((fundus_raw / "images").glob("*.png"))[0]
    proc = predict_without_torch(photo, paths.artifacts)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    assert set(result["probabilities"]) == set(params.data.class_names)
    assert result["prediction"] == max(result["probabilities"], key=result["probabilities"].get)


def test_skin_lesion_segmentation_runs_end_to_end_and_predicts_masks_at_the_photos_size(
    tmp_path, skin_raw
):
    params, paths = _project(tmp_path, "skin-lesion-seg", skin_raw)
    assert params.model.name == "unet2d" and params.loss.name == "ce_dice"
    metrics, exported = _run_pipeline(params, paths)
    # photos carry no spacing: distances in pixels, named so in metrics.json and the model card
    for key in ("dice_mean", "dice_present_mean", "hd95_px_median"):
        assert key in metrics
    assert not [k for k in metrics if "_mm" in k]
    assert "HD95 (pixels)" in (paths.reports / "model_card.md").read_text()
    assert set(exported["quality"]["ort_fp32"]) & {"dice_present", "dice"}
    _assert_parity(paths)
    evaluation = json.loads((paths.reports / "evaluation.json").read_text())
    assert evaluation["distance_units"].startswith("pixels")
    photo = sorted((skin_raw / "images").glob("*.jpg"))[0]
    proc = predict_without_torch(photo, paths.artifacts, "--out", str(tmp_path / "masks"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    mask = sitk.ReadImage(result["mask"])
    assert mask.GetSize()[:2] == sitk.ReadImage(str(photo)).GetSize()[:2] == (64, 64)


@pytest.mark.parametrize("preset", ["ct-seg-2d", "ct-seg-3d"])
def test_ct_segmentation_runs_end_to_end(tmp_path, demo_raw, tiny, preset):
    params, paths = _project(tmp_path, preset, tiny[1].raw)
    metrics, exported = _run_pipeline(params, paths)
    for key in ("dice_mean", "dice_present_mean", "hd95_mm_median"):
        assert key in metrics
    _assert_parity(paths)
    assert set(exported["quality"]["ort_int8_static"]) & {"dice_present", "dice"}
    assert json.loads((paths.reports / "evaluation.json").read_text())["distance_units"] == "mm"
    bundle = load_bundle_spec(paths.artifacts)
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    # post-processing decided on the val cases, reported, and carried to predict by the bundle
    decision = json.loads((paths.reports / "postprocessing.json").read_text())
    evaluation = json.loads((paths.reports / "evaluation.json").read_text())
    assert decision["cases"] > 0 and evaluation["postprocessing"] == decision
    assert bundle.largest_component == decision["largest_component"]
    if preset == "ct-seg-2d":  # a 2D network run slice by slice over the volume
        assert bundle.model_ndim == 2 and bundle.input_shape == [1, 32, 32]
    else:  # a 3D network trained on patches and slid over the volume
        assert bundle.model_ndim == 3 and bundle.patch == [32, 32, 32]
        assert bundle.input_shape == [1, 32, 32, 32]
    # the ONNX variants were scored on whole test volumes, as the evaluate step scored torch
    assert report["test_items"] == metrics["n"]
    series = sorted(
        {p.parent for p in paths.raw.rglob("*.dcm") if p.parent.parent.parent == paths.raw}
    )[0]
    proc = predict_without_torch(series, paths.artifacts, "--out", str(tmp_path / "masks"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    mask = sitk.ReadImage(result["mask"])
    assert mask.GetSize() == tuple(result["size_xyz"])
    assert set(np.unique(sitk.GetArrayViewFromImage(mask))) <= {0, 1}


def test_the_default_ct_classification_preset_is_the_tiny_projects(tiny, exported):
    params, paths = tiny
    assert params.model.name == "resnet3d_18"
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    assert "auc" in metrics and exported["max_abs_diff"] <= params.export.parity_atol
