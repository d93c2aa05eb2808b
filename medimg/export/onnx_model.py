"""Export a torch model to ONNX with a dynamic batch axis, and prove parity with onnxruntime."""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from medimg.deploy.runners import Runner, ort_session
from medimg.io import atomic


class ParityError(RuntimeError):
    """The exported model does not reproduce the torch model within tolerance."""


def _axes(example: torch.Tensor, spatial: bool) -> dict:
    axes = {0: torch.export.Dim("batch", min=1, max=1024)}
    if spatial:
        axes.update(
            {a: torch.export.Dim(f"size{a - 2}", min=16, max=4096) for a in range(2, example.ndim)}
        )
    return axes


def _write(
    model: torch.nn.Module, example: torch.Tensor, tmp: Path, opset: int, spatial: bool
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            opset_version=opset,
            dynamo=True,
            external_data=False,
            dynamic_shapes={"x": _axes(example, spatial)},
        )


def _matches_at_another_size(model: torch.nn.Module, path: Path, example: torch.Tensor) -> bool:
    """Whether the graph accepts another batch and spatial size *and* still matches torch there. Export may fix
    a size, or bake one size's pooling windows into the graph (adaptive pooling), which would run but
    answer wrongly."""
    other = torch.rand(
        (2, example.shape[1], *(n + 16 for n in example.shape[2:])),
        generator=torch.Generator().manual_seed(0),
    )
    try:
        got = ort_session(path).run(None, {"input": other.numpy()})[0]
    except Exception:  # onnxruntime raises its own exception types for fixed-size inputs
        return False
    with torch.no_grad():
        expected = model(other).numpy()
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-4, atol=1e-4))


def dynamic_axes(path: Path) -> list[int]:
    """The input axes the ONNX graph leaves symbolic."""
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return [i for i, d in enumerate(dims) if d.dim_param]


def export_onnx(model: torch.nn.Module, example: torch.Tensor, target: Path, opset: int) -> Path:
    """Write ``target`` as one self-contained .onnx file (weights inside) with a dynamic batch axis and,
    where the model allows it (fully convolutional, adaptive pooling), dynamic spatial axes too."""
    model = model.eval()

    def write(tmp: Path) -> None:
        try:
            _write(model, example, tmp, opset, spatial=True)
            if _matches_at_another_size(model, tmp, example):
                return
        except (
            Exception
        ):  # torch.export refuses shapes the model constrains; fixed spatial size it is
            pass
        _write(model, example, tmp, opset, spatial=False)

    return atomic.write_with(target, write, suffix=".onnx")


def check_parity(
    model: torch.nn.Module,
    run: Runner,
    batch: torch.Tensor,
    atol: float,
    rtol: float = 0.0,
) -> dict:
    """torch vs exported logits (``run``: a variant's runner), each within atol + rtol·(the sample's largest |logit|); raises ParityError
    if not. The relative part scales with the whole sample, not the element, because float32
    reordering error grows with the activations it sums. Within that tolerance a predicted class can
    differ only where torch's top two logits are themselves within twice of it, a tie: such flips
    (a segmentation has a few voxels like that) are counted in ``flips_at_ties``, not failed."""
    with torch.no_grad():
        expected = model.eval()(batch).numpy()
    got = run(batch.numpy())
    difference = np.abs(expected - got)
    max_abs = float(np.max(difference))
    scale = (
        np.abs(expected)
        .reshape(len(expected), -1)
        .max(axis=1)
        .reshape((-1,) + (1,) * (expected.ndim - 1))
    )
    excess = float(np.max(difference - (atol + rtol * scale)))
    flips = int(np.sum(expected.argmax(1) != got.argmax(1)))
    result = {
        "samples": int(batch.shape[0]),
        "max_abs_diff": max_abs,
        "max_abs_logit": float(np.max(np.abs(expected))),
        "atol": atol,
        "rtol": rtol,
        "same_predictions": flips == 0,
        "flips_at_ties": flips,
    }
    if excess > 0:
        raise ParityError(
            f"ONNX parity failed: max |diff| {max_abs:.3g} (tolerance {atol:g} + {rtol:g}·max |logit|, "
            f"exceeded by {excess:.3g}); {flips} predicted class(es) differ"
        )
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
