"""Classification losses: weighted cross-entropy and focal loss (Lin et al., 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medimg.params import LossParams


class FocalLoss(nn.Module):
    """Cross-entropy scaled by (1 - p_true)^gamma, so easy, confident samples count less.

    With gamma 0 it is exactly (class-weighted) cross-entropy.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        log_p_true = log_p.gather(1, target[:, None])[:, 0]
        focal = (1 - log_p_true.exp()).pow(self.gamma) * -log_p_true
        if self.weight is None:
            return focal.mean()
        w = self.weight[target]
        return (focal * w).sum() / w.sum()  # the same normalisation as F.cross_entropy with weights


def build_loss(params: LossParams, class_weights: torch.Tensor) -> nn.Module:
    if params.name == "focal":
        return FocalLoss(params.focal_gamma, class_weights)
    return nn.CrossEntropyLoss(weight=class_weights)
