"""Deep supervision's loss (nnU-Net): the loss of the full-resolution output plus that of each
coarser decoder output against the mask downsampled to its size, weights halving per level and
summing to one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def deep_supervised(output) -> bool:
    """Whether a network's output is deep supervision's (full resolution, [coarser outputs])."""
    return isinstance(output, tuple)


def level_weights(levels: int) -> list[float]:
    """1, 1/2, 1/4, ... over ``levels`` outputs (full resolution first), normalised to sum to 1."""
    raw = [0.5**i for i in range(levels)]
    return [w / sum(raw) for w in raw]


def downsampled(mask: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """A label map (B, *spatial) at ``size`` by nearest neighbour: labels stay labels."""
    return F.interpolate(mask[:, None].float(), size=size, mode="nearest")[:, 0].to(mask.dtype)


class DeepSupervisionLoss(nn.Module):
    """``base`` over every output of a deeply supervised network; a plain tensor (eval mode,
    validation) is scored by ``base`` alone."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, output, target: torch.Tensor) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            return self.base(output.float(), target)
        main, coarser = output
        outputs = [main, *coarser]
        weights = level_weights(len(outputs))
        return sum(
            w * self.base(o.float(), target if i == 0 else downsampled(target, o.shape[2:]))
            for i, (w, o) in enumerate(zip(weights, outputs))
        )
