"""Exact BatchNorm statistics before validation ("precise BN", Wu & Johnson 2021).

Running averages lag behind weights that move fast, and torchvision's MobileNet and EfficientNet
use momentum 0.01, so after a few hundred steps their running variance is still mostly its initial
1.0: eval-mode outputs then collapse (one class everywhere) while train-mode outputs are fine.
Averaging the statistics of a few training batches under the current weights removes the lag.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from medimg.train.device import autocast, to_device


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    batches: int,
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> int:
    """Reset and re-estimate the running statistics of the BatchNorm layers in train mode (frozen
    groups are in eval mode and keep theirs) as the plain average over ``batches`` batches.
    Returns the number of layers updated. Call with the model in its training mode."""
    layers = [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.training and m.track_running_stats
    ]
    if not layers or batches == 0:
        return 0
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    for index, (x, _) in enumerate(loader):
        if index >= batches:
            break
        with autocast(device, dtype):
            model(to_device(x, device, channels_last))
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    return len(layers)
