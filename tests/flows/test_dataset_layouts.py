"""An nnU-Net raw folder (two channels, dataset.json, imagesTs) through `dvc repro` with the ct-seg-3d
preset, changed only in params: no labels.csv is written by hand."""

import json
import sys

import pandas as pd
import torch

from medimg.config.presets import use_preset
from medimg.deploy.bundle import load_bundle_spec
from tests.datasets import write_nnunet
from tests.flows.conftest import dvc_stage_names, edit_params, make_dvc_project, ran_stages, run


def shrink(params: dict) -> None:
    params["data"].update(raw_dir="data/raw/lesions", class_names="from_dataset")
    params["model"].update(in_channels=2, width=4)
    params["preprocess"].update(
        normalize="percentile_zscore", crop="none", target_shape=[32, 32, 32]
    )
    # a pinned epoch wins over the plan's CPU budget (which would fill 12 minutes per fold)
    params["sampling"]["patches"].update(size=[32, 32, 32], per_volume=2, batches_per_epoch=2)
    params["train"].update(batch_size=4, bn_recompute_batches=2)
    for stage in params["train"]["stages"]:
        stage["epochs"] = 1
    params["export"].update(parity_samples=4, calibration_samples=4)
    # the preset mirrors on 3 axes at test time: 8 passes per window, per fold, per export variant;
    # test_kfold and test_tta cover mirroring, this test the layout and the plan
    params["evaluate"]["tta"] = []
    # the U-Net's depth and pool strides are left to the plan: train, evaluate and export must agree
    # the short form README advertises: dvc.yaml must track a `plan` that is a string, not a section
    params["plan"] = "auto"
    params["split"]["folds"] = 3  # k-fold segmentation: an ensemble of 3 U-Nets


def test_a_two_channel_nnunet_folder_runs_through_dvc_repro_as_it_comes(tmp_path):
    project = make_dvc_project(tmp_path / "clone", "sqlite:///mlflow.db")
    write_nnunet(project / "data/raw/lesions", cases=12, test_cases=4, shape=(32, 32, 32))
    use_preset("ct-seg-3d", project / "params.yaml")
    edit_params(project, shrink)
    ran = ran_stages(run([sys.executable, "-m", "dvc", "repro"], project))
    assert dvc_stage_names(first="ingest") <= ran
    plan = json.loads((project / "reports/plan.json").read_text())
    fingerprint = json.loads((project / "reports/dataset_fingerprint.json").read_text())
    assert fingerprint["cases"] == 12 and fingerprint["channels"] == 2  # imagesTs is not looked at
    assert plan["configuration"] == "3d" and len(plan["pool_strides"]) == plan["depth"] >= 2
    ckpt = torch.load(project / "models/unfreeze/ckpt.pt", map_location="cpu", weights_only=True)
    state = ckpt["folds"][0] if "folds" in ckpt else ckpt["model"]
    levels = {key.split(".")[1] for key in state if key.startswith("backbone.")}
    assert levels == {f"enc{level}" for level in range(plan["depth"] + 1)}  # the planned depth
    assert list(state["head.ups.0.weight"].shape[2:]) == plan["pool_strides"][0]
    manifest = pd.read_parquet(project / "data/interim/manifest.parquet")
    assert (
        len(manifest) == 16
        and (manifest["status"] == "ok").all()
        and (manifest["channels"] == 2).all()
    )
    official = manifest[manifest["split_source"] == "labels.csv"]
    assert len(official) == 4 and (official["split"] == "test").all()
    summary = json.loads((project / "reports/ingest_summary.json").read_text())
    assert summary["layout"] == "decathlon" and summary["dataset_labels"] == {
        "0": "background",
        "1": "lesion",
    }
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert "dice_present_mean" in metrics and metrics["n"] == int(
        (manifest["split"] == "test").sum()
    )
    evaluation = json.loads((project / "reports/evaluation.json").read_text())
    cv = evaluation["cross_validation"]
    assert cv["metric"] == "dice_mean" and len(cv["per_fold"]) == len(cv["per_fold_ci95"]) == 3
    for value, ci in [
        *zip(cv["per_fold"], cv["per_fold_ci95"]),
        (cv["ensemble"], cv["ensemble_ci95"]),
    ]:
        assert ci["low"] - 1e-9 <= value <= ci["high"] + 1e-9
    assert "| **ensemble** |" in (project / "reports/model_card.md").read_text()
    assert evaluation["class_names"] == ["background", "lesion"]  # from dataset.json
    assert load_bundle_spec(project / "artifacts").input_shape == [2, 32, 32, 32]
    report = json.loads((project / "artifacts/export_report.json").read_text())
    assert (
        report["parity"]["max_abs_diff"]
        <= report["parity"]["atol"] + report["parity"]["rtol"] * report["parity"]["max_abs_logit"]
    )
