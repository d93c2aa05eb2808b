"""Classification losses: focal (Lin et al., 2017) and asymmetric (Ridnik et al., 2021).

Both accept integer labels (B, ...) or class-probability targets (B, K, ...), so they work on
MixUp/CutMix batches and, for focal, per voxel in segmentation too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_probabilities(target: torch.Tensor, classes: int) -> torch.Tensor:
    """Integer labels (B, ...) → one-hot (B, K, ...); probability targets pass through."""
    if target.is_floating_point():
        return target
    return F.one_hot(target.long(), classes).movedim(-1, 1).float()


class FocalLoss(nn.Module):
    """Cross-entropy scaled by (1 - p)^gamma, so easy, confident samples count less.

    With gamma 0 and integer labels it is exactly (class-weighted) cross-entropy: the weighted sum
    is divided by the summed weights, as F.cross_entropy does.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        y = as_probabilities(target, logits.shape[1])
        if self.weight is not None:
            y = y * self.weight.view(1, -1, *([1] * (logits.ndim - 2)))
        focal = (1 - log_p.exp()).pow(self.gamma) * -log_p
        return (y * focal).sum() / y.sum()


class AsymmetricLoss(nn.Module):
    """Per-class sigmoid loss that focuses negatives harder than positives and drops very easy ones.

    Positives: (1-p)^gamma_pos · log p. Negatives: p_m^gamma_neg · log(1-p_m) with p_m = max(p - clip, 0),
    so negatives the model already rejects (p < clip) add nothing. It answers class imbalance by
    its focusing, so it takes no class weights.
    """

    def __init__(
        self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.gamma_pos, self.gamma_neg, self.clip, self.eps = gamma_pos, gamma_neg, clip, eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits.float())
        y = as_probabilities(target, logits.shape[1])
        p_neg = (p - self.clip).clamp(min=0)
        positive = y * (1 - p).pow(self.gamma_pos) * p.clamp(min=self.eps).log()
        negative = (1 - y) * p_neg.pow(self.gamma_neg) * (1 - p_neg).clamp(min=self.eps).log()
        return -(positive + negative).sum(1).mean()
