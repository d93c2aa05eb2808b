"""CPU latency of the trained model and of every variant at batch 1 and 8."""

from __future__ import annotations

import numpy as np
import torch

from medimg.config.variants import VARIANTS
from medimg.deploy.runners import Runner
from medimg.export.onnx_model import median_latency_ms
from medimg.models.ensemble import FoldEnsemble

LATENCY_RULE = "median of 20 runs after 3 warm-up runs"


def measure_latency(
    model: torch.nn.Module, runners: dict[str, Runner], batch: torch.Tensor, threads: int
) -> dict:
    """{"batch1": {"torch_eager": ms, variant: ms, ...}, "batch8": {...}}; fp16 is left out. For
    a k-fold ensemble, ``torch_eager_one_fold`` times one fold's network alone beside it."""
    if threads:
        torch.set_num_threads(threads)
    latency: dict = {}
    for size in (1, 8):
        example = torch.from_numpy(np.resize(batch.numpy(), (size, *batch.shape[1:])))
        with torch.no_grad():
            latency[f"batch{size}"] = {"torch_eager": median_latency_ms(lambda: model(example))}
            if isinstance(model, FoldEnsemble):  # what one fold alone would cost
                one = model.members[0]
                latency[f"batch{size}"]["torch_eager_one_fold"] = median_latency_ms(
                    lambda: one(example)
                )
        for name, run in runners.items():
            if VARIANTS[name].precision == "fp16":
                continue  # meant for GPUs; CPU runs it through casts, so its CPU time misleads
            latency[f"batch{size}"][name] = median_latency_ms(lambda: run(example.numpy()))
    return latency
