"""The exported model variants: one table that export writes, predict reads and the CLI offers.

A variant is a file and the runtime that runs it (medimg/deploy/runners.py opens it).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("onnxruntime", "openvino")


@dataclass(frozen=True)
class Variant:
    file: str
    backend: str
    precision: str  # fp32, fp16 or int8


VARIANTS: dict[str, Variant] = {
    "ort_fp32": Variant("model.onnx", "onnxruntime", "fp32"),
    "ort_fp16": Variant("model.fp16.onnx", "onnxruntime", "fp16"),
    "ort_int8_static": Variant("model.int8.onnx", "onnxruntime", "int8"),
    "ort_int8_dynamic": Variant("model.int8-dynamic.onnx", "onnxruntime", "int8"),
    # OpenVINO IR: the .xml names the graph, a .bin beside it holds the weights
    "openvino_fp32": Variant("model.openvino.xml", "openvino", "fp32"),
    "openvino_int8": Variant("model.openvino-int8.xml", "openvino", "int8"),
}
REFERENCE = "ort_fp32"  # what every other variant is compared with


def variant_files(name: str) -> list[str]:
    """Every file a variant consists of."""
    file = VARIANTS[name].file
    return [file, file.removesuffix(".xml") + ".bin"] if file.endswith(".xml") else [file]


def default_variant(backend: str) -> str:
    return next(n for n, v in VARIANTS.items() if v.backend == backend and v.precision == "fp32")
