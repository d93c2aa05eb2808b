"""A segmentation model that sees slices or patches, applied to whole volumes (validation, evaluation)."""

from __future__ import annotations

import torch
from torch import nn

from medimg.config.schema import SamplingParams
from medimg.deploy.sliding_window import segment_volume


class WholeVolume(nn.Module):
    """Runs ``model`` slice by slice (2D models) or by sliding its patch (3D) over each input volume."""

    def __init__(
        self, model: nn.Module, model_ndim: int, patch: list[int] | None, overlap: float
    ) -> None:
        super().__init__()
        self.model, self.model_ndim, self.patch, self.overlap = model, model_ndim, patch, overlap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return segment_volume(self.model, x, self.model_ndim, self.patch, self.overlap)


def whole_item_model(
    model: nn.Module, task: str, model_ndim: int, sampling: SamplingParams
) -> nn.Module:
    """``model`` itself where it already takes whole items, else wrapped in WholeVolume."""
    if task != "segmentation":
        return model
    return WholeVolume(model, model_ndim, sampling.patches.size, sampling.patches.overlap)
