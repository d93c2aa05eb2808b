"""Smaller ONNX variants of an exported model: FP16 for GPUs, INT8 (static QDQ and dynamic) for CPUs.

Uses onnxruntime's own tools; each writes atomically next to the fp32 model. Whether a variant is
good enough is decided by evaluating it (tasks/export.py), not assumed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from medimg.io import atomic

# INT8 format per CPU target (medimg/deploy/cpu.py says why): 7-bit weights on AVX2, full 8 elsewhere
REDUCED_RANGE = {"avx2": True, "vnni": False, "arm64": False}


def int8_format(target: str) -> str:
    bits = "7-bit" if REDUCED_RANGE[target] else "8-bit"
    return f"uint8 activations x int8 weights ({bits} weights, per output channel; target {target})"


class ArrayCalibration(CalibrationDataReader):
    """Feeds calibration samples one at a time, as onnxruntime's calibrators expect."""

    def __init__(self, input_name: str, samples: Iterator[np.ndarray]) -> None:
        self.input_name, self.samples = input_name, iter(samples)

    def get_next(self) -> dict | None:
        sample = next(self.samples, None)
        return None if sample is None else {self.input_name: sample[None].astype(np.float32)}


def _prepared(source: Path, folder: Path) -> Path:
    """onnxruntime's recommended pre-processing (shape inference, graph optimisation) before quantizing."""
    target = folder / "prepared.onnx"
    quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    return target


def conv3d_nodes(model_path: Path) -> list[str]:
    """Names of the 3D convolutions (5D weights) in a graph."""
    graph = onnx.load(str(model_path)).graph
    ranks = {init.name: len(init.dims) for init in graph.initializer}
    return [
        n.name
        for n in graph.node
        if n.op_type == "Conv" and len(n.input) > 1 and ranks.get(n.input[1]) == 5
    ]


def quantize_int8_static(
    source: Path,
    target: Path,
    input_name: str,
    samples: Iterator[np.ndarray],
    conv3d: bool = False,
    cpu: str = "avx2",
) -> tuple[Path, list[str]]:
    """INT8 weights and activations in QDQ form, weights per output channel, activation ranges from
    ``samples`` (training images, MinMax calibration), in the format that is safe on ``cpu``
    (REDUCED_RANGE). Returns the file and the nodes kept in fp32.

    3D convolutions stay fp32 unless ``conv3d``: onnxruntime's CPU kernels for INT8 3D convolution are
    slower than its fp32 ones (6x on the demo's 3D ResNet, bench/export.py), while INT8 2D convolution
    and matrix products are several times faster.
    """
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        prepared = _prepared(source, Path(tmp))
        excluded = [] if conv3d else conv3d_nodes(prepared)

        def write(path: Path) -> None:
            quantize_static(
                str(prepared),
                str(path),
                ArrayCalibration(input_name, samples),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                reduce_range=REDUCED_RANGE[cpu],
            )

        return atomic.write_with(target, write, suffix=".onnx"), excluded


# Dynamic quantization pays on matrix products (the classifiers' heads, attention); on convolutions
# onnxruntime's ConvInteger kernels run slower than fp32 (PSPNet-ResNet-18 on 96² slices: 64 ms
# against 11 ms), which is why onnxruntime recommends static quantization for CNNs.
DYNAMIC_OPS = ("MatMul", "Gemm")


def quantize_int8_dynamic(
    source: Path,
    target: Path,
    op_types: tuple[str, ...] | None = DYNAMIC_OPS,
    conv3d: bool = False,
    cpu: str = "avx2",
) -> Path:
    """INT8 weights; activations quantized on the fly at run time (no calibration data needed), in
    the format that is safe on ``cpu``. Only ``op_types`` are quantized (None: every supported op;
    then 3D convolutions stay fp32 unless ``conv3d``, see quantize_int8_static). A graph without
    such ops is written unchanged."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        prepared = _prepared(source, Path(tmp))
        excluded = [] if conv3d or op_types is not None else conv3d_nodes(prepared)
        return atomic.write_with(
            target,
            lambda path: quantize_dynamic(
                str(prepared),
                str(path),
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                reduce_range=REDUCED_RANGE[cpu],
                op_types_to_quantize=list(op_types) if op_types is not None else None,
            ),
            suffix=".onnx",
        )


def convert_fp16(source: Path, target: Path) -> Path:
    """FP16 weights and arithmetic inside, float32 inputs and outputs kept (for GPU deployment)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    return atomic.write_with(target, lambda path: onnx.save(half, str(path)), suffix=".onnx")
