"""Step 5: export the final model to ONNX (fp32, fp16, INT8 static and dynamic) and OpenVINO (fp32,
INT8), prove parity on real validation samples, gate every variant on val at its own operating
point, report it on the test split, time them, and write the bundle. The work is medimg.export."""

from __future__ import annotations

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.config.variants import REFERENCE, VARIANTS
from medimg.deploy.bundle import write_bundle
from medimg.deploy.cpu import resolve_int8_target
from medimg.deploy.runners import open_runner
from medimg.evaluate.postprocessing import read_largest_component
from medimg.export.judging import judge_variants
from medimg.export.latency import measure_latency
from medimg.export.onnx_model import check_parity, export_onnx
from medimg.export.openvino_model import openvino_available
from medimg.export.registration import record_export
from medimg.export.report import build_bundle, export_report
from medimg.export.scoring import deployed_model, gate_split, model_inputs
from medimg.export.variants import write_variants
from medimg.io import atomic
from medimg.io.problems import InputError
from medimg.train.checkpoint import final_checkpoint


def run_export(params: Params, paths: ProjectPaths) -> dict:
    """Write artifacts/model*.onnx, the OpenVINO IR variants, bundle.json (what predict replays),
    export_report.json and export_metrics.json; register the fp32 model in MLflow."""
    if not openvino_available():
        raise InputError(
            "the export step writes OpenVINO variants, but openvino and nncf are not installed: "
            "pip install -c constraints.txt -e '.[openvino]'"
        )
    atomic.sweep_leftovers(paths.artifacts)  # a killed run's half-written files
    spec, art = params.export, paths.artifacts
    model = deployed_model(params, paths)
    batch = model_inputs(params, paths, gate_split(params), spec.parity_samples)
    onnx_path = export_onnx(model, batch[:1], art / VARIANTS[REFERENCE].file, spec.opset)
    tolerance = (spec.parity_atol, spec.parity_rtol)
    parity = check_parity(model, open_runner(art, REFERENCE), batch, *tolerance)  # raises if off

    cpu = resolve_int8_target(spec.int8_target)
    calibration = model_inputs(params, paths, "train", spec.calibration_samples)
    kept_fp32 = write_variants(spec, art, onnx_path, calibration, cpu)
    parity_openvino = check_parity(model, open_runner(art, "openvino_fp32"), batch, *tolerance)
    runners = {name: open_runner(art, name, spec.threads) for name in VARIANTS}

    judged = judge_variants(params, paths, runners)
    latency = measure_latency(model, runners, batch, spec.threads)
    largest = read_largest_component(paths.postprocessing)
    write_bundle(build_bundle(params, judged, list(batch.shape[1:]), cpu, largest), art)
    report = export_report(
        params,
        final_checkpoint(params, paths),
        art,
        parity,
        parity_openvino,
        cpu,
        kept_fp32,
        judged,
        latency,
    )
    example = batch[:1].numpy()
    record_export(
        params, paths, report, judged, latency, onnx_path, example, runners[REFERENCE](example)
    )
    return {
        "model": str(onnx_path),
        "max_abs_diff": parity["max_abs_diff"],
        "quality": judged.quality,
        "latency_ms": latency,
        "gate_note": judged.gate_rests_on.get("note"),
    }
