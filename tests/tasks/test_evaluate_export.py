import json

import numpy as np
import onnx
import pandas as pd
import pytest

from medimg.config.variants import VARIANTS
from medimg.deploy.bundle import load_bundle_spec, write_bundle
from medimg.deploy.runners import onnxruntime_runner
from medimg.export.onnx_model import ParityError, check_parity
from tests.conftest import predict_without_torch


def test_metrics_and_predictions_cover_the_test_split_without_identifiers(tiny, evaluated):
    params, paths = tiny
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    predictions = pd.read_parquet(paths.reports / "predictions.parquet")
    test_rows = pd.read_parquet(paths.index).query("split == 'test'")
    assert metrics["n"] == len(predictions) == len(test_rows)
    assert set(predictions.columns) == {
        "series_key",
        "patient_key",
        "split",
        "label",
        "score",
        "prediction",
    }
    report = json.loads((paths.reports / "evaluation.json").read_text())
    assert report["operating_point"]["rule"].startswith("youden")
    assert 0.0 <= metrics["threshold"] == report["operating_point"]["threshold"] <= 1.0
    assert (
        (predictions["score"] >= metrics["threshold"]) == predictions["prediction"].astype(bool)
    ).all()
    # metrics.json is the headline `dvc metrics show` lists; evaluation.json has every figure
    assert set(metrics) == {
        "n",
        *("auc", "auc_low", "auc_high", "sensitivity", "specificity", "ece"),
        "threshold",
    }
    # the promise, beside metrics.json: made on val, its interval widened for the test split's size
    promises = json.loads((paths.reports / "promises.json").read_text())
    for rate, short, cls in (("sensitivity", "sens", 1), ("specificity", "spec", 0)):
        promise = report["operating_point"]["promised"][rate]
        assert promises[short] == promise["value"] and promises[f"{short}_n"] == promise["cases"]
        assert promise["expected"]["for_cases"] == int((test_rows["label"] == cls).sum())
        assert promises[f"{short}_lo"] <= promise["value"] <= promises[f"{short}_hi"]
    kept = report["operating_point"]["kept"]
    assert promises["broken"] == any(kept[r]["broken"] for r in ("sensitivity", "specificity"))
    assert metrics["auc_low"] == report["ci95"]["auc"]["low"]
    assert report["calibration"]["temperature"] > 0
    val_items = len(pd.read_parquet(paths.index).query("split == 'val'"))
    for decision in (report["operating_point"], report["calibration"]):
        assert decision["rests_on"]["cases"] == val_items
    for name in ("sensitivity", "specificity", "auc", "pr_auc", "brier", "ece", "kappa"):
        value, interval = report["metrics"][name], report["ci95"].get(name)
        assert metrics.get(name, value) == value
        if value is not None and interval:
            assert interval["low"] <= value + 1e-12 and value <= interval["high"] + 1e-12


def test_the_threshold_is_chosen_on_val_calibrated_scores_and_applied_unchanged(tiny, evaluated):
    import torch

    from medimg.evaluate.inference import predict_probabilities
    from medimg.metrics.calibration import (
        fit_temperature,
        log_probabilities,
    )
    from medimg.metrics.classification import binary_metrics, youden_threshold
    from medimg.metrics.probabilities import softmax as calibrated_softmax
    from medimg.train.checkpoint import load_final_model
    from medimg.train.datasets import read_split

    params, paths = tiny
    model = load_final_model(params, paths)
    val = predict_probabilities(
        model, read_split(paths.index, "val"), params, paths, torch.device("cpu")
    )
    report = json.loads((paths.reports / "evaluation.json").read_text())
    logits = log_probabilities(val["probs"])
    temperature = fit_temperature(logits, val["labels"])
    assert report["calibration"]["temperature"] == pytest.approx(temperature, rel=1e-6)
    calibrated = calibrated_softmax(logits, temperature)[:, 1]
    assert report["operating_point"]["threshold"] == pytest.approx(
        youden_threshold(val["labels"], calibrated), rel=1e-9
    )
    predictions = pd.read_parquet(paths.reports / "predictions.parquet")
    recomputed = binary_metrics(
        predictions["label"].to_numpy(),
        predictions["score"].to_numpy(),
        report["operating_point"]["threshold"],
    )
    assert recomputed["sensitivity"] == report["metrics"]["sensitivity"]
    assert set(report["subgroups"]) == {"manufacturer"}
    assert sum(g["n"] for g in report["subgroups"]["manufacturer"].values()) == report["n"]


def test_figures_plot_data_and_a_model_card_are_written(tiny, evaluated):
    params, paths = tiny
    figures = paths.reports / "figures"
    for name in ("confusion.png", "training_freeze.png", "training_unfreeze.png"):
        assert (figures / name).read_bytes()[:4] == b"\x89PNG", name
    plots = {
        name: json.loads((paths.reports / "plots" / f"{name}.json").read_text())[name]
        for name in ("roc", "pr", "calibration", "confusion")
    }
    assert all(isinstance(points, list) and points for points in plots.values()), plots
    roc = [(p["fpr"], p["tpr"]) for p in plots["roc"]]
    assert roc[0] == (0.0, 0.0) and roc[-1] == (1.0, 1.0) and roc == sorted(roc)
    assert len(plots["confusion"]) == len(pd.read_parquet(paths.index).query("split == 'test'"))
    card = (paths.reports / "model_card.md").read_text()
    for heading in (
        "## Data",
        "## Operating point",
        "## Calibration",
        "## Performance",
        "## Subgroups",
        "## Intended use",
        "## Limitations",
    ):
        assert heading in card
    test_rows = pd.read_parquet(paths.index).query("split == 'test'")
    assert f"{len(test_rows)} items. 95% intervals by bootstrap over patients" in card


def test_onnx_export_matches_torch_and_has_a_dynamic_batch(tiny, exported):
    params, paths = tiny
    # parity measured here, not read from the report export wrote about itself: the final
    # checkpoint in torch against the exported file in a fresh onnxruntime session, on val items
    import onnxruntime
    import torch

    from medimg.train.checkpoint import load_final_model

    rows = pd.read_parquet(paths.index).query("split == 'val'")
    batch = np.stack([np.load(paths.processed / p) for p in rows["cache_path"]]).astype(np.float32)
    with torch.no_grad():
        expected = load_final_model(params, paths).eval()(torch.from_numpy(batch)).numpy()
    session = onnxruntime.InferenceSession(
        str(paths.artifacts / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {"input": batch})[0]
    assert got.shape == expected.shape == (len(rows), 2)
    assert np.abs(got - expected).max() <= 1e-4 + 1e-3 * np.abs(expected).max()
    model = onnx.load(str(paths.artifacts / "model.onnx"))
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    assert not list(paths.artifacts.glob("*.data"))  # weights are inside the one file


def test_export_report_evaluates_and_times_every_variant(tiny, exported):
    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    assert set(report["quality"]) == set(VARIANTS)
    assert report["key_metric"] == "auc" and report["quality"]["ort_fp32"]["delta"] == 0.0
    reference = report["quality"]["ort_fp32"]["val"]
    spec = params.export
    val = pd.read_parquet(paths.index).query("split == 'val'")
    basis = report["gate_rests_on"]
    assert (basis["cases"], basis["positives"]) == (len(val), int(val["label"].sum()))
    for figures in report["quality"].values():
        # decided on val, each variant at its own threshold: the rule, written out here, applied to
        # the recorded val figures gives the recorded verdict
        assert 0.0 <= figures["threshold"] <= 1.0 and "sensitivity" in figures["val"]
        val = figures["val"]
        # the operating point by the paired interval of its change, each resting on its cases
        op, limit = figures["operating_change"], spec.max_operating_drop
        assert op["sensitivity"]["cases"] == basis["positives"]
        keeps = reference["auc"] - val["auc"] <= spec.max_metric_drop + 1e-12 and all(
            op[k]["ci95"] is not None
            and -limit <= op[k]["ci95"]["low"] <= op[k]["ci95"]["high"] <= limit
            for k in ("sensitivity", "specificity")
        )
        assert figures["deployable"] == keeps == (figures["reasons"] == [])
    bundle = load_bundle_spec(paths.artifacts)
    assert bundle.thresholds == {k: v["threshold"] for k, v in report["quality"].items()}
    assert report["bytes"]["ort_int8_static"] < report["bytes"]["ort_fp32"]
    for size in ("batch1", "batch8"):
        assert set(report["latency_ms"][size]) == {"torch_eager"} | {
            name for name, v in VARIANTS.items() if v.precision != "fp16"
        }
        assert all(v > 0 for v in report["latency_ms"][size].values())


def test_parity_check_fails_loudly_on_a_different_model(tiny, exported):
    import torch

    from medimg.models import build_model

    params, paths = tiny
    other = build_model(params.model).eval()
    with pytest.raises(ParityError, match="parity failed"):
        check_parity(
            other,
            onnxruntime_runner(paths.artifacts / "model.onnx"),
            torch.rand(2, 1, 32, 32, 32),
            1e-4,
        )


def test_predict_reads_a_dicom_series_without_torch(tiny, exported):
    params, paths = tiny
    series = sorted(
        {
            p.parent
            for p in paths.raw.rglob("*")
            if p.is_file() and p.parent.parent.parent == paths.raw
        }
    )
    proc = predict_without_torch(series[0], paths.artifacts)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result) == 1 and result[0]["prediction"] in params.data.class_names
    assert abs(sum(result[0]["probabilities"].values()) - 1.0) < 1e-5
    bundle = load_bundle_spec(paths.artifacts)
    assert result[0]["threshold"] == bundle.thresholds["ort_fp32"]  # the variant's own
    evaluation = json.loads((paths.reports / "evaluation.json").read_text())
    assert bundle.temperature == evaluation["calibration"]["temperature"]
    # predict reports the calibrated probability: softmax of the ONNX logits over the temperature
    from scipy.special import softmax  # a reference, not the softmax predict itself uses

    from medimg.deploy.predict import read_inputs
    from medimg.preprocess.recipes import preprocess_volume

    image, _ = read_inputs(series[0], bundle)[0]
    tensor = preprocess_volume(image, bundle.preprocess).tensor
    logits = onnxruntime_runner(paths.artifacts / "model.onnx")(tensor[None])
    expected = softmax(logits / bundle.temperature, axis=1)[0]
    assert list(result[0]["probabilities"].values()) == pytest.approx(expected.tolist(), abs=1e-5)
    int8 = predict_without_torch(series[0], paths.artifacts, "--variant", "ort_int8_static")
    assert json.loads(int8.stdout)[0]["threshold"] == bundle.thresholds["ort_int8_static"]


@pytest.mark.slow  # trains a 3D U-Net through both stages
def test_a_segmentation_model_is_evaluated_in_mm_exported_and_predicts_masks_in_the_input_geometry(
    tiny, preprocessed, tmp_path
):
    import SimpleITK as sitk

    from medimg.config.loading import load_params
    from medimg.config.paths import ProjectPaths
    from tasks.evaluate import run_evaluate
    from tasks.export import run_export
    from tasks.train import run_train

    params, paths = tiny
    seg = load_params(
        paths.root / "params.yaml",
        [
            "model.name=unet3d",
            "loss.name=ce_dice",
            "tracking.enabled=false",
            f"data.models_dir={tmp_path / 'm'}",
            f"data.reports_dir={tmp_path / 'r'}",
            f"data.artifacts_dir={tmp_path / 'a'}",
            "train.stages[0].early_stopping.metric=dice",
            "train.stages[1].early_stopping.metric=dice",
            "data.class_names=[background, nodule]",
        ],
    )
    seg_paths = ProjectPaths.from_params(seg, paths.root)
    for stage in seg.train.stages:
        run_train(seg, seg_paths, stage.name)
    result = run_evaluate(seg, seg_paths)
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    test_rows = pd.read_parquet(paths.index).query("split == 'test'")
    assert report["cases"] == result["n"] == len(test_rows)
    nodule = report["classes"]["nodule"]
    assert 0.0 <= nodule["metrics"]["dice_mean"] <= 1.0 and "hd95_mm_median" in nodule["metrics"]
    assert set(nodule["subgroups"]) == {"manufacturer"}
    cases = pd.read_parquet(tmp_path / "r" / "predictions.parquet")
    assert len(cases) == len(test_rows) and {
        "dice",
        "hd95_mm",
        "assd_mm",
        "volume_difference_ml",
    } <= set(cases)
    assert "Empty masks:" in (tmp_path / "r" / "model_card.md").read_text()
    assert (tmp_path / "r" / "figures" / "segmentation_worst_case.png").exists()

    exported = run_export(seg, seg_paths)
    parity = json.loads((seg_paths.artifacts / "export_report.json").read_text())["parity"]
    # the export's own rule: absolute plus relative to the largest logit (the planned-free U-Net
    # with strided convolutions answers with logits of a few units)
    assert parity["max_abs_diff"] <= parity["atol"] + parity["rtol"] * parity["max_abs_logit"]
    assert set(exported["quality"]["ort_int8_static"]) & {
        "dice_present",
        "dice",
    }
    series = sorted(
        {p.parent for p in paths.raw.rglob("*.dcm") if p.parent.parent.parent == paths.raw}
    )[0]
    proc = predict_without_torch(
        series, tmp_path / "a", "--out", str(tmp_path / "masks"), "--variant", "ort_int8_static"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    mask = sitk.ReadImage(result["mask"])
    from medimg.config.schema import GeometryPolicy
    from medimg.ingest.dicom.convert import read_folder_volumes

    original = read_folder_volumes(series, GeometryPolicy())[0]
    assert mask.GetSize() == original.GetSize() and mask.GetSpacing() == pytest.approx(
        original.GetSpacing()
    )
    assert (
        mask.GetOrigin() == pytest.approx(original.GetOrigin()) and "nodule" in result["volume_ml"]
    )


def test_export_registers_the_model_with_its_signature_in_mlflow(tiny, exported):
    import mlflow

    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    name, version = report["registered_model"]["name"], report["registered_model"]["version"]
    client = mlflow.MlflowClient(tracking_uri=params.tracking.uri, registry_uri=params.tracking.uri)
    assert version in {str(v.version) for v in client.search_model_versions(f"name='{name}'")}
    source = client.get_model_version(name, version).source  # the logged model, with its signature
    # get_model_info resolves models:/ URIs against the global store; other tests may have moved it
    mlflow.set_tracking_uri(params.tracking.uri)
    info = mlflow.models.get_model_info(source)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"][1:]) == [1, 32, 32, 32]


def _first_series(paths):
    return sorted(
        {
            p.parent
            for p in paths.raw.rglob("*")
            if p.is_file() and p.parent.parent.parent == paths.raw
        }
    )[0]


def test_openvino_variants_match_onnxruntime_and_predict_runs_them_without_torch(tiny, exported):
    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    parity = report["parity_openvino"]
    assert (
        parity["max_abs_diff"]
        <= params.export.parity_atol + params.export.parity_rtol * (parity["max_abs_logit"])
    )
    series = _first_series(paths)
    ort_result = json.loads(predict_without_torch(series, paths.artifacts).stdout)[0]
    proc = predict_without_torch(series, paths.artifacts, "--backend", "openvino")
    assert proc.returncode == 0, proc.stderr
    ov_result = json.loads(proc.stdout)[0]
    assert ov_result["variant"] == "openvino_fp32"
    for name, p in ort_result["probabilities"].items():
        assert ov_result["probabilities"][name] == pytest.approx(p, abs=1e-4)
    int8 = predict_without_torch(series, paths.artifacts, "--variant", "openvino_int8")
    assert int8.returncode == 0, int8.stderr
    assert json.loads(int8.stdout)[0]["prediction"] in params.data.class_names
    clash = predict_without_torch(
        series, paths.artifacts, "--backend", "openvino", "--variant", "ort_fp32"
    )
    assert clash.returncode != 0 and "runs on onnxruntime, not --backend openvino" in clash.stderr


def test_the_report_records_the_int8_format_and_cpu_and_predict_warns_elsewhere(
    tiny, exported, tmp_path
):
    import shutil

    from medimg.deploy.cpu import cpu_class

    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    int8 = report["int8"]
    assert int8["target"] == "avx2" and "7-bit" in int8["format"]
    assert int8["validated_on"]["cpu_class"] == cpu_class()
    bundle = load_bundle_spec(paths.artifacts)
    assert (bundle.int8_target, bundle.int8_validated_on) == ("avx2", cpu_class())
    series = _first_series(paths)
    same = predict_without_torch(series, paths.artifacts, "--variant", "ort_int8_static")
    assert "cpu_warning" not in json.loads(same.stdout)[0] and "warning" not in same.stderr
    # the same bundle as if it had been validated on another class of CPU
    moved = tmp_path / "bundle"
    shutil.copytree(paths.artifacts, moved)
    other = "arm64" if cpu_class() != "arm64" else "vnni"
    write_bundle(
        bundle.model_copy(update={"int8_validated_on": other, "int8_target": "vnni"}), moved
    )
    warned = predict_without_torch(series, moved, "--variant", "ort_int8_static")
    assert warned.returncode == 0, warned.stderr
    assert f"validated on a {other} CPU" in json.loads(warned.stdout)[0]["cpu_warning"]
    assert "warning:" in warned.stderr
    fp32 = predict_without_torch(series, moved)
    assert "cpu_warning" not in json.loads(fp32.stdout)[0]  # only INT8 arithmetic depends on it


def test_the_registered_version_describes_itself_and_carries_the_model_card(tiny, exported):
    import mlflow

    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    name, version = report["registered_model"]["name"], report["registered_model"]["version"]
    client = mlflow.MlflowClient(params.tracking.uri)
    entry = client.get_model_version(name, version)
    text = entry.description
    assert f"auc {metrics['auc']:.3f} (95% CI {metrics['auc_low']:.3f}-" in text
    assert f"Operating threshold {metrics['threshold']:.3f}" in text
    assert "Deployable variants: " in text and "Data fingerprint `" in text
    assert f"runs:/{entry.run_id}/model_card/model_card.md" in text
    cards = [a.path for a in client.list_artifacts(entry.run_id, "model_card")]
    assert cards == ["model_card/model_card.md"]


def test_the_terminal_gets_a_short_export_summary_that_points_to_the_report(tiny, exported):
    from medimg.export.report import export_summary

    params, paths = tiny
    text = export_summary(exported, paths.artifacts / "export_report.json")
    lines = text.splitlines()
    # parity, one per variant, a line when the gate rests on few cases, the report
    few = exported["gate_note"] is not None
    assert len(lines) == len(exported["quality"]) + 2 + few
    assert few == any(line.startswith("  the gate rests on few cases: only") for line in lines)
    assert lines[-1] == f"full report: {paths.artifacts / 'export_report.json'}"
    for name, quality in exported["quality"].items():
        line = next(line for line in lines if line.strip().startswith(name + " "))
        assert ("deployable" in line) == quality["deployable"]
