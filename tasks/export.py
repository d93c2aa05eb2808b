"""Step 5: export the final model to ONNX, check parity on real validation samples, write the bundle."""

from __future__ import annotations

import json

import torch

from medimg import __version__, atomic
from medimg.datasets import CachedClassificationDataset, read_split
from medimg.layout import ProjectPaths
from medimg.onnx_export import check_parity, export_onnx, median_latency_ms, ort_session
from medimg.params import Params
from tasks.evaluate import final_checkpoint, load_final_model


def run_export(params: Params, paths: ProjectPaths) -> dict:
    """Write artifacts/model.onnx, preprocess.json (the recipe predict replays) and export_report.json."""
    model = load_final_model(params, paths)
    rows = read_split(paths.index, "val").head(params.export.parity_samples)
    dataset = CachedClassificationDataset(rows, paths.processed)
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    onnx_path = export_onnx(model, batch[:1], paths.artifacts / "model.onnx", params.export.opset)
    session = ort_session(onnx_path)
    parity = check_parity(model, session, batch, params.export.parity_atol)
    one = batch[:1]
    with torch.no_grad():
        torch_ms = median_latency_ms(lambda: model(one))
    ort_ms = median_latency_ms(lambda: session.run(None, {"input": one.numpy()}))
    metrics_path = paths.reports / "metrics.json"
    threshold = json.loads(metrics_path.read_text())["threshold"] if metrics_path.exists() else 0.5
    spec = {"medimg_version": __version__, "task": "classification", "ndim": 3,
            "model": params.model.name, "class_names": params.data.class_names, "positive_threshold": threshold,
            "input_name": "input", "input_shape": [params.model.in_channels, *params.preprocess.target_shape],
            "preprocess": params.preprocess.model_dump(exclude={"workers"}),
            "ingest_geometry": params.ingest.geometry.model_dump()}
    atomic.write_json(paths.artifacts / "preprocess.json", spec)
    report = {"onnx_bytes": onnx_path.stat().st_size, "checkpoint": str(final_checkpoint(params, paths)),
              "parity": parity, "latency_ms_batch1": {"torch_eager": torch_ms, "ort_fp32": ort_ms},
              "opset": params.export.opset}
    atomic.write_json(paths.artifacts / "export_report.json", report)
    return {"model": str(onnx_path), "max_abs_diff": parity["max_abs_diff"], "onnx_bytes": report["onnx_bytes"],
            "latency_ms_batch1": report["latency_ms_batch1"]}


