"""k-fold training end to end on the tiny project: one model per fold, their ensemble evaluated and
exported; each fold's temperature fitted on its own fold and carried inside the ensemble, the
threshold chosen out of fold and carried to the ensemble's scores by quantile."""

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


def test_the_stage_checkpoint_is_the_ensemble_of_the_folds_final_weights(kfold):
    params, paths, _ = kfold
    for k in range(FOLDS):  # the fold it validates on chose no epoch: its evidence is not flattered
        fold_dir = paths.stage_dir("unfreeze", k)
        summary = json.loads((fold_dir / "summary.json").read_text())
        assert summary["weights"] == "final epoch"
        last = load_checkpoint(fold_dir / "last.pt")["model"]
        shipped = load_checkpoint(fold_dir / "ckpt.pt")["model"]
        assert all(torch.equal(last[n], v) for n, v in shipped.items())
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


def test_temperatures_come_per_fold_and_the_cut_is_carried_to_the_ensemble_by_quantile(kfold):
    from medimg.evaluate.inference import predict_probabilities
    from medimg.export.scoring import deployed_model
    from medimg.train.datasets import read_split

    params, paths, _ = kfold
    report = json.loads((paths.reports / "evaluation.json").read_text())
    pool = read_split(paths.index, "train")
    op, cal = report["operating_point"], report["calibration"]
    assert op["chosen_on"].startswith("out-of-fold predictions of 3 folds")
    assert op["rests_on"]["cases"] == len(pool) == cal["rests_on"]["cases"]
    assert len(cal["member_temperatures"]) == FOLDS and cal["temperature"] == 1.0
    # the deployed threshold flags the share of the non-test cases, on the calibrated ensemble's
    # scores, that the chosen cut flagged out of fold
    cpu = torch.device("cpu")
    scores = predict_probabilities(deployed_model(params, paths), pool, params, paths, cpu)
    flagged_out_of_fold = (op["val"]["tp"] + op["val"]["fp"]) / len(pool)
    assert np.mean(scores["probs"][:, 1] >= op["threshold"]) == pytest.approx(
        flagged_out_of_fold, abs=1.01 / len(pool)
    )
    # the promise and what test gave, side by side
    for name in ("sensitivity", "specificity"):
        promise, kept = op["promised"][name], op["kept"][name]
        assert promise["value"] == pytest.approx(op["val"][name])
        assert kept["realised"] == pytest.approx(report["metrics"][name])
        assert kept["broken"] == (
            not promise["expected"]["low"] <= kept["realised"] <= promise["expected"]["high"]
        )
    assert report["score_shift"]["shifted"] in (True, False)
    oof = report["out_of_fold"]
    assert len(oof["per_fold"]) == FOLDS and sum(f["cases"] for f in oof["per_fold"]) == len(pool)
    cv = report["cross_validation"]
    assert cv["metric"] == "auc" and len(cv["per_fold"]) == FOLDS
    assert cv["ensemble"] == pytest.approx(report["metrics"]["auc"])
    # each figure with its interval over patients, the point inside it
    for value, ci in [
        *zip(cv["per_fold"], cv["per_fold_ci95"]),
        (cv["ensemble"], cv["ensemble_ci95"]),
    ]:
        assert ci["low"] - 1e-9 <= value <= ci["high"] + 1e-9 and ci["resamples"] > 0
    promises = json.loads((paths.reports / "promises.json").read_text())
    assert promises["sens_n"] == op["promised"]["sensitivity"]["cases"]
    assert promises["shifted"] == report["score_shift"]["shifted"]
    card = (paths.reports / "model_card.md").read_text()
    assert "## Cross-validation" in card and f"Rests on {len(pool)} cases" in card
    assert "| model | ROC-AUC | 95% interval |" in card
    assert "| Sensitivity |" in card and "expected here" in card
    assert "in 3 cross-validation folds by patient" in card and "each fold's final epoch" in card


def test_the_exported_graph_is_the_calibrated_ensemble_and_each_variant_carries_the_cut(kfold):
    from medimg.deploy.runners import open_runner
    from medimg.export.scoring import deployed_model, model_inputs

    params, paths, _ = kfold
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    assert report["parity"]["max_abs_diff"] < 1e-3
    evaluation = json.loads((paths.reports / "evaluation.json").read_text())
    model = deployed_model(params, paths)
    temperatures = evaluation["calibration"]["member_temperatures"]
    assert model.temperatures.tolist() == pytest.approx(temperatures)
    x = model_inputs(params, paths, "train", 2)
    with torch.no_grad():
        want = model(x).numpy()
    got = open_runner(paths.artifacts, "ort_fp32")(x.numpy())
    assert np.abs(got - want).max() < 1e-3
    bundle = json.loads((paths.artifacts / "bundle.json").read_text())
    assert bundle["positive_threshold"] == evaluation["operating_point"]["threshold"]
    assert all(t is not None for t in bundle["thresholds"].values())
    pool = (pd.read_parquet(paths.index)["split"] == "train").sum()
    assert report["gate_rests_on"]["cases"] == pool
    for quality in report["quality"].values():
        assert (
            quality["operating_change"]["specificity"]["cases"]
            == report["gate_rests_on"]["negatives"]
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
