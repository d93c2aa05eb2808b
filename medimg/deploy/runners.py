"""Runners: every runtime reached through one function from a float32 batch to the model's first
output, so scoring, parity checks and predict share one path whatever runs the variant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from medimg.config.variants import VARIANTS

Runner = Callable[[np.ndarray], np.ndarray]


def ort_session(path: Path, threads: int = 0):
    """An onnxruntime CPU session (``threads`` 0: the runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnxruntime_runner(path: Path, threads: int = 0) -> Runner:
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

    return run


def openvino_runner(path: Path, threads: int = 0) -> Runner:
    """OpenVINO's CPU plugin, told to compute in f32: on CPUs with bf16 or AMX units it would
    otherwise run fp32 graphs in bf16 and leave the validated figures (INT8 layers stay INT8)."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(np.ascontiguousarray(x, dtype=np.float32))[0])

    return run


def open_runner(folder: Path, name: str, threads: int = 0) -> Runner:
    variant = VARIANTS[name]
    opener = openvino_runner if variant.backend == "openvino" else onnxruntime_runner
    return opener(folder / variant.file, threads)
