"""Losses for classification and segmentation, chosen by name in params (see build_loss)."""

from medimg.losses.classification import FocalLoss, build_loss
from medimg.losses.segmentation import dice_loss, soft_dice

__all__ = ["FocalLoss", "build_loss", "dice_loss", "soft_dice"]
