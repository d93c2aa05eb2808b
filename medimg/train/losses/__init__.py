"""Losses for classification and segmentation, chosen by name in params (see build_loss)."""

from __future__ import annotations

import torch
from torch import nn

from medimg.config.schema import LossParams
from medimg.train.losses.classification import AsymmetricLoss, FocalLoss, as_probabilities
from medimg.train.losses.deep_supervision import DeepSupervisionLoss
from medimg.train.losses.segmentation import DiceLoss, dice_loss, soft_dice


def build_loss(
    params: LossParams, class_weights: torch.Tensor | None = None, deep_supervision: bool = False
) -> nn.Module:
    """The loss ``loss.name`` names; ``class_weights`` (K,) weight the cross-entropy-like terms.
    With ``deep_supervision`` it scores every output of a deeply supervised U-Net."""
    base = _named_loss(params, class_weights)
    return DeepSupervisionLoss(base) if deep_supervision else base


def _named_loss(params: LossParams, class_weights: torch.Tensor | None) -> nn.Module:
    name = params.name
    if name == "focal":
        return FocalLoss(params.focal_gamma, class_weights)
    if name == "asymmetric":
        return AsymmetricLoss(
            params.asymmetric_gamma_pos, params.asymmetric_gamma_neg, params.asymmetric_clip
        )
    if name in ("dice", "ce_dice", "bce_dice"):
        term = {"dice": None, "ce_dice": "ce", "bce_dice": "bce"}[name]
        return DiceLoss(params.dice_include_background, term, class_weights)
    return nn.CrossEntropyLoss(weight=class_weights)


__all__ = [
    "AsymmetricLoss",
    "DiceLoss",
    "FocalLoss",
    "as_probabilities",
    "build_loss",
    "dice_loss",
    "soft_dice",
]
