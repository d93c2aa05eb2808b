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


_OPENVINO_CORE = None


def openvino_core():
    """One OpenVINO Core for the whole process, with the CPU plugin loaded and kept loaded.

    A Core unloads its device plugins when it is destroyed. The CPU plugin's worker threads and
    thread-local state outlive it, and in a long-lived process (a Prefect flow, a test worker) that
    later forks or signals a child, code from the unloaded library crashed the process
    (SIGSEGV). One Core that lives as long as the process keeps the plugin mapped.
    """
    global _OPENVINO_CORE
    if _OPENVINO_CORE is None:
        import openvino as ov

        core = ov.Core()
        core.get_property("CPU", "FULL_DEVICE_NAME")  # loads the CPU plugin now
        _OPENVINO_CORE = core
    return _OPENVINO_CORE


def openvino_runner(path: Path, threads: int = 0) -> Runner:
    """OpenVINO's CPU plugin, told to compute in f32: on CPUs with bf16 or AMX units it would
    otherwise run fp32 graphs in bf16 and leave the validated figures (INT8 layers stay INT8)."""
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = openvino_core().compile_model(str(path), "CPU", config)

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(np.ascontiguousarray(x, dtype=np.float32))[0])

    return run


def open_runner(folder: Path, name: str, threads: int = 0) -> Runner:
    variant = VARIANTS[name]
    opener = openvino_runner if variant.backend == "openvino" else onnxruntime_runner
    return opener(folder / variant.file, threads)
