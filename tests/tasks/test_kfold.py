"""k-fold training end to end on the tiny project: one model per fold, their ensemble evaluated and
exported, the threshold and temperature chosen out of fold."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from medimg.models.ensemble import FoldEnsemble
from medimg.models.tta import FlipAverage
from medimg.train.checkpoint import load_checkpoint, load_final_model, model_from_checkpoint
from tests.conftest import _load, _step_runners, tiny_params

pytestmark = pytest.mark.slow
FOLDS = 3


@pytest.fixture(scope="module")
def kfold(tmp_path_factory):
    root = tmp_path_factory.mktemp("kfold")
    raw = tiny_params(root)
    raw["split"]["folds"] = FOLDS
    raw["evaluate"]["tta"] = ["flip_x"]  # mirrored per fold, in evaluation and the exported graph
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params, paths = _load(root)
    runners = _step_runners()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDIMG_SALT", "kfold-try")  # a split whose folds each hold a positive case
        results = {name: runners[name](params, paths) for name in ("demo_raw", "ingested")}
    for name in ("preprocessed", "trained", "evaluated", "exported"):
        results[name] = runners[name](params, paths)
    return params, paths, results


def test_each_fold_trains_on_the_others_and_validates_on_its_own(kfold):
    params, paths, _ = kfold
    folds = json.loads(paths.splits.read_text())
    manifest = pd.read_parquet(paths.manifest)
    assert folds["folds"] == FOLDS and set(manifest["split"]) == {"train", "test"}
    pool = set(manifest.loc[manifest["split"] == "train", "patient_key"])
    assert sorted(k for f in folds["splits"] for k in f["val"]) == sorted(pool)
    for k, entry in enumerate(folds["splits"]):
        summary = json.loads((paths.stage_dir("unfreeze", k) / "summary.json").read_text())
        assert summary["fold"] == k and summary["val_items"] == len(
            manifest[manifest["patient_key"].isin(entry["val"])]
        )
        assert summary["train_items"] + summary["val_items"] == (manifest["split"] == "train").sum()


def test_the_stage_checkpoint_is_the_ensemble_of_the_folds_best_weights(kfold):
    params, paths, _ = kfold
    stage = json.loads((paths.stage_dir("unfreeze") / "summary.json").read_text())
    per_fold = [p["best_val_auc"] for p in stage["per_fold"]]
    assert stage["folds"] == FOLDS and stage["best_val_auc_mean"] == pytest.approx(
        np.mean(per_fold)
    )
    model = load_final_model(params, paths)
    assert isinstance(model, FoldEnsemble) and len(model.members) == FOLDS
    assert all(isinstance(m, FlipAverage) for m in model.members)
    model = model_from_checkpoint(params, load_checkpoint(paths.stage_dir("unfreeze") / "ckpt.pt"))
    for k, member in enumerate(model.members):
        fold = load_checkpoint(paths.stage_dir("unfreeze", k) / "ckpt.pt")["model"]
        assert all(torch.equal(fold[n], v) for n, v in member.state_dict().items())
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.no_grad():
        averaged = torch.stack([m(x).softmax(1) for m in model.members]).mean(0)
        torch.testing.assert_close(model(x).softmax(1), averaged, atol=1e-6, rtol=1e-5)


def test_a_rerun_resumes_every_fold_to_the_end_and_one_fold_retrains_alone(kfold):
    params, paths, _ = kfold
    from tasks.train import run_train

    before = {
        k: load_checkpoint(paths.stage_dir("unfreeze", k) / "ckpt.pt")["model"]
        for k in range(FOLDS)
    }
    again = run_train(params, paths, "unfreeze")
    assert again["folds"] == FOLDS
    for k in range(FOLDS):
        summary = json.loads((paths.stage_dir("unfreeze", k) / "summary.json").read_text())
        assert summary["resumed"]
        after = load_checkpoint(paths.stage_dir("unfreeze", k) / "ckpt.pt")["model"]
        assert all(torch.equal(before[k][n], after[n]) for n in after)
    only = run_train(params, paths, "unfreeze", fresh=True, fold=1)
    assert only["folds"] == FOLDS
    resumed = [
        json.loads((paths.stage_dir("unfreeze", k) / "summary.json").read_text())["resumed"]
        for k in range(FOLDS)
    ]
    assert resumed == [True, False, True]
    with pytest.raises(Exception, match="--fold 3: split.folds is 3"):
        run_train(params, paths, "unfreeze", fold=3)


def test_threshold_and_temperature_come_out_of_fold_and_the_report_has_the_cv_table(kfold):
    params, paths, _ = kfold
    report = json.loads((paths.reports / "evaluation.json").read_text())
    pool = (pd.read_parquet(paths.index)["split"] == "train").sum()
    op = report["operating_point"]
    assert op["chosen_on"].startswith("out-of-fold predictions of 3 folds")
    assert op["rests_on"]["cases"] == pool == report["calibration"]["rests_on"]["cases"]
    cv = report["cross_validation"]
    assert cv["metric"] == "auc" and len(cv["per_fold"]) == FOLDS
    assert cv["ensemble"] == pytest.approx(report["metrics"]["auc"])
    # each figure with its interval over patients, the point inside it
    for value, ci in [
        *zip(cv["per_fold"], cv["per_fold_ci95"]),
        (cv["ensemble"], cv["ensemble_ci95"]),
    ]:
        assert ci["low"] - 1e-9 <= value <= ci["high"] + 1e-9 and ci["resamples"] > 0
    card = (paths.reports / "model_card.md").read_text()
    assert "## Cross-validation" in card and f"Rests on {pool} out-of-fold cases" in card
    assert "| model | ROC-AUC | 95% interval |" in card
    assert "in 3 cross-validation folds by patient" in card


def test_the_exported_graph_is_the_ensemble_and_keeps_the_out_of_fold_threshold(kfold):
    params, paths, _ = kfold
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    assert report["parity"]["max_abs_diff"] < 1e-3
    evaluation = json.loads((paths.reports / "evaluation.json").read_text())
    bundle = json.loads((paths.artifacts / "bundle.json").read_text())
    assert all(t is None for t in bundle["thresholds"].values())
    assert bundle["positive_threshold"] == evaluation["operating_point"]["threshold"]
    assert (
        report["gate_rests_on"]["cases"] == (pd.read_parquet(paths.index)["split"] == "train").sum()
    )


def test_mlflow_has_one_run_per_fold_and_stage_under_the_pipeline_run(kfold):
    import mlflow

    params, _, _ = kfold
    client = mlflow.MlflowClient(tracking_uri=params.tracking.uri)
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    runs = client.search_runs([experiment.experiment_id])
    parents = {r.info.run_id for r in runs if r.info.run_name.startswith("pipeline-")}
    folds = {r.info.run_name: r for r in runs if r.info.run_name.startswith("train-freeze-fold")}
    assert sorted(folds) == [f"train-freeze-fold{k}" for k in range(FOLDS)]
    for run in folds.values():
        assert run.data.tags["mlflow.parentRunId"] in parents
        assert run.data.tags["fold"] in {"0", "1", "2"}
