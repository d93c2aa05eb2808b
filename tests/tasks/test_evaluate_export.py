import json
import os
import subprocess
import sys

import onnx
import pandas as pd
import pytest

from medimg.onnx_export import ParityError, check_parity, ort_session
from tests.conftest import REPO


def test_metrics_and_predictions_cover_the_test_split_without_identifiers(tiny, evaluated):
    params, paths = tiny
    metrics = json.loads((paths.reports / "metrics.json").read_text())
    predictions = pd.read_parquet(paths.reports / "predictions.parquet")
    test_rows = pd.read_parquet(paths.index).query("split == 'test'")
    assert metrics["n"] == len(predictions) == len(test_rows)
    assert set(predictions.columns) == {"series_key", "patient_key", "split", "label", "score", "prediction"}
    assert metrics["threshold_rule"] == "youden on val" and 0.0 <= metrics["threshold"] <= 1.0
    assert ((predictions["score"] >= metrics["threshold"]) == predictions["prediction"].astype(bool)).all()


def test_onnx_export_matches_torch_and_has_a_dynamic_batch(tiny, exported):
    params, paths = tiny
    report = json.loads((paths.artifacts / "export_report.json").read_text())
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["same_predictions"]
    model = onnx.load(str(paths.artifacts / "model.onnx"))
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    assert not list(paths.artifacts.glob("*.data"))  # weights are inside the one file


def test_parity_check_fails_loudly_on_a_different_model(tiny, exported):
    import torch

    from medimg.models import build_model

    params, paths = tiny
    other = build_model(params.model).eval()
    with pytest.raises(ParityError, match="parity failed"):
        check_parity(other, ort_session(paths.artifacts / "model.onnx"), torch.rand(2, 1, 32, 32, 32), 1e-4)


BLOCK_TORCH = "import sys; sys.modules['torch'] = None; from medimg.cli import main; sys.exit(main())"


def test_predict_reads_a_dicom_series_without_torch(tiny, exported):
    params, paths = tiny
    series = sorted({p.parent for p in paths.raw.rglob("*") if p.is_file() and p.parent.parent.parent == paths.raw})
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "predict", str(series[0]), "--model",
                           str(paths.artifacts)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result) == 1 and result[0]["prediction"] in params.data.class_names
    assert abs(sum(result[0]["probabilities"].values()) - 1.0) < 1e-5
