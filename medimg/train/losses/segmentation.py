"""Soft Dice for segmentation logits, and the compound losses built on it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medimg.train.losses.classification import as_probabilities


def soft_dice(probs: torch.Tensor, target_onehot: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-class soft Dice over a batch: (B, K, ...) probabilities and one-hot targets → (K,)."""
    dims = (0,) + tuple(range(2, probs.ndim))
    intersection = (probs * target_onehot).sum(dims)
    total = probs.sum(dims) + target_onehot.sum(dims)
    return (2 * intersection + eps) / (total + eps)


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, include_background: bool = False
) -> torch.Tensor:
    """1 - mean soft Dice of softmax(logits) against integer labels (B, ...), background left out by default."""
    probs = F.softmax(logits.float(), dim=1)
    dice = soft_dice(probs, as_probabilities(target, logits.shape[1]))
    return 1 - (dice if include_background else dice[1:]).mean()


class DiceLoss(nn.Module):
    """Soft Dice, optionally plus a per-voxel term: cross-entropy (CE+Dice, as nnU-Net) or
    per-class binary cross-entropy on the one-hot masks (BCE+Dice)."""

    def __init__(
        self,
        include_background: bool = False,
        voxel_term: str | None = None,
        weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.include_background, self.voxel_term = include_background, voxel_term
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        loss = dice_loss(logits, target, self.include_background)
        if self.voxel_term == "ce":
            loss = loss + F.cross_entropy(logits, target.long(), weight=self.weight)
        elif self.voxel_term == "bce":
            loss = loss + F.binary_cross_entropy_with_logits(
                logits, as_probabilities(target, logits.shape[1])
            )
        return loss
