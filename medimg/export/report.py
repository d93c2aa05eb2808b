"""What the export step writes besides the models: the bundle predict replays and the export report
that says what was checked and why each variant may or may not be deployed."""

from __future__ import annotations

from pathlib import Path

from medimg import __version__
from medimg.config.catalog import CATALOG
from medimg.config.schema import Params
from medimg.config.variants import VARIANTS, variant_files
from medimg.deploy.bundle import Bundle
from medimg.deploy.cpu import SAFE_ON, cpu_class, cpu_description
from medimg.export.judging import Judgement
from medimg.export.latency import LATENCY_RULE
from medimg.export.onnx_model import dynamic_axes
from medimg.export.quantization import DYNAMIC_OPS, int8_format


def build_bundle(
    params: Params,
    judged: Judgement,
    input_shape: list[int],
    cpu: str,
    largest_component: list[int] | None = None,
) -> Bundle:
    """The bundle of this export: recipe, geometry policy, operating points, temperature, variants,
    post-processing and DICOM codes, everything predict needs to answer as evaluation did."""
    info = CATALOG[params.model.name]
    patches = params.sampling.patches if info.task == "segmentation" and info.ndim == 3 else None
    return Bundle(
        medimg_version=__version__,
        task=info.task,
        ndim=judged.ndim,
        model_ndim=info.ndim,
        patch=patches.size if patches else None,
        overlap=patches.overlap if patches else None,
        model=params.model.name,
        class_names=params.data.class_names,
        positive_threshold=judged.threshold,
        temperature=judged.temperature,
        thresholds=judged.thresholds,
        input_name="input",
        input_shape=input_shape,
        models={name: v.file for name, v in VARIANTS.items()},
        backends={name: v.backend for name, v in VARIANTS.items()},
        int8_target=cpu,
        int8_validated_on=cpu_class(),
        preprocess=params.preprocess,
        ingest_geometry=params.ingest.geometry,
        dicom=params.results,
        largest_component=largest_component or [],
    )


def export_report(
    params: Params,
    checkpoint: Path,
    folder: Path,
    parity: dict,
    parity_openvino: dict,
    cpu: str,
    kept_fp32: list[str],
    judged: Judgement,
    latency: dict,
) -> dict:
    """artifacts/export_report.json (less the registered version, which the registry adds)."""
    spec = params.export
    onnx_path = folder / VARIANTS["ort_fp32"].file
    return {
        "checkpoint": str(checkpoint),
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
            name: sum((folder / f).stat().st_size for f in variant_files(name)) for name in VARIANTS
        },
        "test_items": judged.test_items,
        "key_metric": judged.metric,
        "threshold": judged.threshold,
        "quality": judged.quality,
        "clinical": judged.clinical,
        "max_metric_drop": spec.max_metric_drop,
        "max_operating_drop": spec.max_operating_drop,
        "max_hd95_increase": spec.max_hd95_increase,
        "gate_rests_on": judged.gate_rests_on,
        "gate_rule": "decided on val (cases no model trained on), each variant at its own "
        "threshold: the key metric may drop by max_metric_drop; the paired 95% bootstrap interval "
        "of the change of sensitivity and of specificity against fp32 must lie within "
        "±max_operating_drop (operating_change: the change, its interval and its cases); a "
        "segmentation's median HD95 (voxels) may grow by max_hd95_increase",
        "latency_ms": latency,
        "latency_rule": LATENCY_RULE,
        "threads": spec.threads or "runtime default",
    }


def export_summary(result: dict, report_file: Path) -> str:
    """A few lines for the terminal from the export step's result: parity, each variant's verdict
    on its key metric and its latency at batch 1, and the report that has everything else."""
    lines = [f"{result['model']}: parity with torch, max abs diff {result['max_abs_diff']:.2g}"]
    latency = result["latency_ms"].get("batch1", {})
    for name, quality in result["quality"].items():
        metric = next(iter(quality))
        value = quality[metric]
        verdict = (
            "deployable" if quality["deployable"] else "refused: " + "; ".join(quality["reasons"])
        )
        figure = f"{metric} {value:.3f}" if isinstance(value, int | float) else f"{metric} -"
        ms = f", {latency[name]:.1f} ms" if isinstance(latency.get(name), int | float) else ""
        lines.append(f"  {name:<18} {figure}{ms}  {verdict}")
    if result.get("gate_note"):
        lines.append(f"  the gate rests on few cases: {result['gate_note']}")
    lines.append(f"full report: {report_file}")
    return "\n".join(lines)
