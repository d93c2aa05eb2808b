"""Every deployable variant beside the fp32 ONNX model: fp16, INT8 static and dynamic for
onnxruntime, fp32 and INT8 OpenVINO IR (medimg.config.variants names their files)."""

from __future__ import annotations

from pathlib import Path

import torch

from medimg.config.schema import ExportParams
from medimg.config.variants import VARIANTS
from medimg.export.openvino_model import convert_openvino, quantize_openvino_int8
from medimg.export.quantization import convert_fp16, quantize_int8_dynamic, quantize_int8_static


def write_variants(
    spec: ExportParams, folder: Path, onnx_path: Path, calibration: torch.Tensor, cpu: str
) -> list[str]:
    """Write each variant into ``folder``, INT8 ones calibrated on ``calibration`` (training items)
    in ``cpu``'s format; returns the nodes the onnxruntime INT8 model keeps in fp32."""
    samples = [item.numpy() for item in calibration]
    convert_fp16(onnx_path, folder / VARIANTS["ort_fp16"].file)
    _, kept_fp32 = quantize_int8_static(
        onnx_path,
        folder / VARIANTS["ort_int8_static"].file,
        "input",
        iter(samples),
        spec.int8_conv3d,
        cpu,
    )
    quantize_int8_dynamic(onnx_path, folder / VARIANTS["ort_int8_dynamic"].file, cpu=cpu)
    convert_openvino(onnx_path, folder / VARIANTS["openvino_fp32"].file)
    quantize_openvino_int8(onnx_path, folder / VARIANTS["openvino_int8"].file, samples, cpu)
    return kept_fp32
