"""Export a torch model to ONNX with a dynamic batch axis, and prove parity with onnxruntime."""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from medimg import atomic


class ParityError(RuntimeError):
    """The exported model does not reproduce the torch model within tolerance."""


def export_onnx(model: torch.nn.Module, example: torch.Tensor, target: Path, opset: int) -> Path:
    """Write ``target`` as a single self-contained .onnx file (weights inside) with a dynamic batch."""
    model = model.eval()

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                              opset_version=opset, dynamo=True, external_data=False,
                              dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}})

    return atomic.write_with(target, write, suffix=".onnx")


def ort_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_parity(model: torch.nn.Module, session: ort.InferenceSession, batch: torch.Tensor, atol: float) -> dict:
    """Max |torch − ORT| on the logits and agreement of predicted classes; raises ParityError if off."""
    with torch.no_grad():
        expected = model.eval()(batch).numpy()
    got = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
    max_abs = float(np.max(np.abs(expected - got)))
    same_class = bool(np.array_equal(expected.argmax(1), got.argmax(1)))
    result = {"samples": int(batch.shape[0]), "max_abs_diff": max_abs, "atol": atol, "same_predictions": same_class}
    if max_abs > atol or not same_class:
        raise ParityError(f"ONNX parity failed: max |diff| {max_abs:.3g} (tolerance {atol:g}), "
                          f"identical predictions: {same_class}")
    return result


def median_latency_ms(run, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run()
        times.append((time.perf_counter() - tic) * 1000)
    return statistics.median(times)
