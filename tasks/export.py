"""Step 5: export the final model to ONNX (fp32, fp16, INT8 static and dynamic) and OpenVINO (fp32,
INT8), prove parity on real validation samples, gate every variant on val at its own operating
point, report it on the test split, time them, and write the bundle."""

from __future__ import annotations

import json

import numpy as np
import torch

from medimg import __version__
from medimg.config.catalog import CATALOG
from medimg.config.schema import Params
from medimg.config.variants import REFERENCE, VARIANTS, variant_files
from medimg.deploy.cpu import SAFE_ON, cpu_class, cpu_description, resolve_int8_target
from medimg.deploy.runners import open_runner
from medimg.export.description import version_description
from medimg.export.gate import changes, gate_headline, gate_variant, variant_threshold
from medimg.export.onnx_model import check_parity, dynamic_axes, export_onnx, median_latency_ms
from medimg.export.openvino_model import (
    convert_openvino,
    openvino_available,
    quantize_openvino_int8,
)
from medimg.export.quantization import (
    DYNAMIC_OPS,
    convert_fp16,
    int8_format,
    quantize_int8_dynamic,
    quantize_int8_static,
)
from medimg.export.scoring import (
    load_split,
    model_inputs,
    operating_point,
    run_on_items,
    score_session,
    variant_metrics,
)
from medimg.io import atomic
from medimg.io.digest import file_digest, settings_fingerprint
from medimg.io.paths import ProjectPaths
from medimg.io.tracking import flatten, pipeline_key, tracking_run
from medimg.train.checkpoint import final_checkpoint, load_final_model


def _write_variants(params: Params, art, onnx_path, calibration, cpu: str) -> list[str]:
    """Every variant beside the fp32 ONNX model; returns the nodes the ORT INT8 model keeps fp32."""
    spec = params.export
    samples = [item.numpy() for item in calibration]
    convert_fp16(onnx_path, art / VARIANTS["ort_fp16"].file)
    _, kept_fp32 = quantize_int8_static(
        onnx_path,
        art / VARIANTS["ort_int8_static"].file,
        "input",
        iter(samples),
        spec.int8_conv3d,
        cpu,
    )
    quantize_int8_dynamic(onnx_path, art / VARIANTS["ort_int8_dynamic"].file, cpu=cpu)
    convert_openvino(onnx_path, art / VARIANTS["openvino_fp32"].file)
    quantize_openvino_int8(onnx_path, art / VARIANTS["openvino_int8"].file, samples, cpu)
    return kept_fp32


# the figure reports/metrics.json names for each key metric the gate reads
HEADLINE_KEY = {
    "auc": "auc",
    "quadratic_kappa": "quadratic_kappa",
    "dice_present": "dice_present_mean",
    "dice": "dice_mean",
}


def _describe_version(
    params: Params, paths: ProjectPaths, tracker, version, metric, quality, temperature
):
    """Log the model card with the registered version's run and describe the version with the
    headline figures, the gate's verdicts and the data and training digests."""
    card = paths.reports / "model_card.md"
    tracker.log_artifact(card, "model_card")
    metrics_path = paths.reports / "metrics.json"
    headline = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    training = params.model_dump(include={"model", "train", "augment", "loss", "sampling"})
    text = version_description(
        params.model.name,
        f"{CATALOG[params.model.name].task} of {', '.join(params.data.class_names)}",
        headline,
        HEADLINE_KEY[metric],
        quality,
        {
            "data": file_digest(paths.index)[:16] if paths.index.exists() else "n/a",
            "training": settings_fingerprint(training),
        },
        tracker.artifact_link("model_card/model_card.md") if card.exists() else None,
        temperature,
    )
    tracker.describe_version(params.tracking.registered_model, version, text)


def run_export(params: Params, paths: ProjectPaths) -> dict:
    """Write artifacts/model*.onnx, the OpenVINO IR variants, preprocess.json (the recipe predict
    replays) and export_report.json."""
    if not openvino_available():
        raise RuntimeError(
            "the export step writes OpenVINO variants, but openvino and nncf are not installed: "
            "pip install -c constraints.txt -e '.[openvino]'"
        )
    atomic.sweep_leftovers(paths.artifacts)  # a killed run's half-written files
    spec, info = params.export, CATALOG[params.model.name]
    model = load_final_model(params, paths)
    batch = model_inputs(params, paths, "val", spec.parity_samples)
    art = paths.artifacts
    onnx_path = export_onnx(model, batch[:1], art / VARIANTS[REFERENCE].file, spec.opset)
    parity = check_parity(
        model, open_runner(art, REFERENCE), batch, spec.parity_atol, spec.parity_rtol
    )  # raises if off

    cpu = resolve_int8_target(spec.int8_target)
    calibration = model_inputs(params, paths, "train", spec.calibration_samples)
    kept_fp32 = _write_variants(params, art, onnx_path, calibration, cpu)
    parity_openvino = check_parity(
        model, open_runner(art, "openvino_fp32"), batch, spec.parity_atol, spec.parity_rtol
    )
    sessions = {name: open_runner(art, name, spec.threads) for name in VARIANTS}

    # every variant gets its own operating point on val and is gated there; test only reports
    classes = params.model.num_classes
    val_images, val_targets = load_split(params, paths, "val")
    images, targets = load_split(params, paths, "test")
    threshold, temperature = operating_point(paths)
    thresholds, on_val, clinical = {}, {}, {}
    for name, run in sessions.items():
        val_logits = run_on_items(run, val_images, info.task, info.ndim, params)
        thresholds[name] = variant_threshold(
            info.task, classes, val_targets, val_logits, params.evaluate, temperature
        )
        at = threshold if thresholds[name] is None else thresholds[name]
        metric, on_val[name] = variant_metrics(
            info.task, classes, val_targets, val_logits, at, temperature
        )
        _, clinical[name] = score_session(run, params, images, targets, at, temperature)
    quality = {}
    for name in sessions:
        reasons = gate_variant(
            metric,
            on_val[name],
            on_val[REFERENCE],
            spec.max_metric_drop,
            spec.max_operating_drop,
            spec.max_hd95_increase,
        )
        on_test = changes(clinical[name], clinical[REFERENCE])
        quality[name] = {
            metric: clinical[name][metric],
            "threshold": thresholds[name],
            "delta": on_test[metric],
            "deployable": not reasons,
            "reasons": reasons,
            "val": on_val[name],
            "val_deltas": changes(on_val[name], on_val[REFERENCE]),
            "clinical_deltas": on_test,
        }

    if spec.threads:
        torch.set_num_threads(spec.threads)
    latency: dict = {}
    for size in (1, 8):
        example = torch.from_numpy(np.resize(batch.numpy(), (size, *batch.shape[1:])))
        with torch.no_grad():
            latency[f"batch{size}"] = {"torch_eager": median_latency_ms(lambda: model(example))}
        for name, run in sessions.items():
            if VARIANTS[name].precision == "fp16":
                continue  # meant for GPUs; CPU runs it through casts, so its CPU time misleads
            latency[f"batch{size}"][name] = median_latency_ms(lambda: run(example.numpy()))

    patches = params.sampling.patches if info.task == "segmentation" and info.ndim == 3 else None
    bundle = {
        "medimg_version": __version__,
        "task": info.task,
        "ndim": images.ndim - 2,
        "model_ndim": info.ndim,
        "patch": patches.size if patches else None,
        "overlap": patches.overlap if patches else None,
        "model": params.model.name,
        "class_names": params.data.class_names,
        "positive_threshold": threshold,
        "temperature": temperature,  # predict reports softmax(logits / temperature), fitted on val
        "thresholds": thresholds,  # each variant's own, chosen on val: what predict applies
        "input_name": "input",
        "input_shape": list(batch.shape[1:]),
        "models": {name: v.file for name, v in VARIANTS.items()},
        "backends": {name: v.backend for name, v in VARIANTS.items()},
        "int8_target": cpu,  # the format the INT8 variants were quantized in
        "int8_validated_on": cpu_class(),  # the CPU class the gate measured them on
        "preprocess": params.preprocess.model_dump(exclude={"workers"}),
        "ingest_geometry": params.ingest.geometry.model_dump(),
        "dicom": params.results.model_dump(exclude_none=True),  # codes of predict's SEG/SR
    }
    atomic.write_json(art / "preprocess.json", bundle)
    report = {
        "checkpoint": str(final_checkpoint(params, paths)),
        "opset": spec.opset,
        "parity": parity,
        "parity_openvino": parity_openvino,
        "int8": {
            "target": cpu,
            "requested": spec.int8_target,
            "format": int8_format(cpu),
            "safe_on": list(SAFE_ON[cpu]),
            "validated_on": cpu_description(),
        },
        "dynamic_axes": dynamic_axes(onnx_path),
        "int8_kept_fp32": {
            "nodes": len(kept_fp32),
            "why": "3D convolutions: onnxruntime's INT8 3D kernels are "
            "slower than fp32 on CPU (export.int8_conv3d)",
        }
        if kept_fp32
        else None,
        "int8_dynamic_quantizes": {
            "ops": list(DYNAMIC_OPS),
            "why": "onnxruntime's dynamic INT8 convolutions "
            "are slower than fp32 on CPU; convolutions are quantized statically",
        },
        "bytes": {
            name: sum((art / f).stat().st_size for f in variant_files(name)) for name in VARIANTS
        },
        "test_items": len(images),
        "key_metric": metric,
        "threshold": threshold,
        "quality": quality,
        "clinical": clinical,
        "max_metric_drop": spec.max_metric_drop,
        "max_operating_drop": spec.max_operating_drop,
        "max_hd95_increase": spec.max_hd95_increase,
        "gate_rule": "decided on val, each variant at its own threshold: the key metric may drop by "
        "max_metric_drop, sensitivity and specificity may move by max_operating_drop, a "
        "segmentation's median HD95 (voxels) may grow by max_hd95_increase",
        "latency_ms": latency,
        "latency_rule": "median of 20 runs after 3 warm-up runs",
        "threads": spec.threads or "runtime default",
    }
    with tracking_run(
        params.tracking, "export", {"step": "export"}, parent_key=pipeline_key(params, paths.index)
    ) as tracker:
        tracker.log_params(flatten({"export": spec.model_dump()}))
        tracker.log_metrics(
            {
                f"{name}_{key}": value
                for name, figures in quality.items()
                for key, value in figures.items()
                if isinstance(value, float)
            }
        )
        tracker.log_metrics(
            {
                f"latency_ms_{size}_{name}": value
                for size, row in latency.items()
                for name, value in row.items()
            }
        )
        example = batch[:1].numpy()
        version = tracker.register_onnx_model(
            onnx_path,
            params.tracking.registered_model,
            example,
            sessions[REFERENCE](example),
        )
        report["registered_model"] = {"name": params.tracking.registered_model, "version": version}
        if version is not None:
            _describe_version(params, paths, tracker, version, metric, quality, temperature)
        atomic.write_json(art / "export_report.json", report)
        atomic.write_json(art / "export_metrics.json", gate_headline(quality, latency))
        for path in (art / "export_report.json", art / "preprocess.json"):
            tracker.log_artifact(path, "bundle")
    return {
        "model": str(onnx_path),
        "max_abs_diff": parity["max_abs_diff"],
        "quality": quality,
        "latency_ms": latency,
    }
