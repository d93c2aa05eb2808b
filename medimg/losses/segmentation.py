"""Soft Dice for segmentation logits; the Dice-based losses build on it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice(probs: torch.Tensor, target_onehot: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-class soft Dice over a batch: (B, K, ...) probabilities and one-hot targets → (K,)."""
    dims = (0,) + tuple(range(2, probs.ndim))
    intersection = (probs * target_onehot).sum(dims)
    total = probs.sum(dims) + target_onehot.sum(dims)
    return (2 * intersection + eps) / (total + eps)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, include_background: bool = False) -> torch.Tensor:
    """1 - mean soft Dice of softmax(logits) against integer labels (B, ...), background left out by default."""
    classes = logits.shape[1]
    probs = F.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target.long(), classes).movedim(-1, 1).float()
    dice = soft_dice(probs, onehot)
    return 1 - (dice if include_background else dice[1:]).mean()
