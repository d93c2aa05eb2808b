"""Overlap metrics for label maps, per case."""

from __future__ import annotations

import torch


def dice_per_case(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, K-1) Dice of each foreground class per case, from integer maps (B, ...).

    A class absent from both prediction and truth scores 1 (nothing to find, nothing found).
    """
    flat_p, flat_t = predicted.flatten(1), target.flatten(1)
    scores = []
    for c in range(1, classes):
        p, t = flat_p == c, flat_t == c
        intersection = (p & t).sum(1).double()
        total = p.sum(1).double() + t.sum(1).double()
        scores.append(torch.where(total > 0, 2 * intersection / total.clamp(min=1), torch.ones_like(total)))
    return torch.stack(scores, dim=1)
