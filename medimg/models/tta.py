"""Test-time augmentation by mirroring: the model's answer averaged over flipped copies of the
input (nnU-Net mirrors along every axis it trained with mirroring). Inside the model, so evaluate,
the exported graph and `medimg predict` all answer the same way."""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn

# evaluate.tta names → the spatial axis counted from the end (x is the last axis)
FLIPS = {"flip_x": -1, "flip_y": -2, "flip_z": -3}


def flip_sets(names: list[str]) -> list[tuple[int, ...]]:
    """Every combination of the named flips, the unflipped input first: 2^k passes for k flips."""
    axes = sorted({FLIPS[n] for n in names})
    return [combo for size in range(len(axes) + 1) for combo in combinations(axes, size)]


class FlipAverage(nn.Module):
    """Averages the softmax probabilities over the mirrored inputs (a segmentation map mirrored
    back first) and returns their log, the convention FoldEnsemble follows: softmax gives the
    averaged probabilities back, arg-max and temperature work on it as on logits."""

    def __init__(self, model: nn.Module, names: list[str], segmentation: bool) -> None:
        super().__init__()
        self.model = model
        self.sets = flip_sets(names)
        self.segmentation = segmentation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for axes in self.sets:
            out = self.model(x.flip(axes) if axes else x).float().softmax(dim=1)
            if axes and self.segmentation:
                out = out.flip(axes)
            total = out if total is None else total + out
        return (total / len(self.sets)).clamp_min(1e-12).log()

    def backbone_groups(self):
        return self.model.backbone_groups()


def with_tta(model: nn.Module, names: list[str], segmentation: bool) -> nn.Module:
    """``model`` answering with mirroring TTA, or unchanged when ``names`` is empty."""
    return FlipAverage(model, names, segmentation).eval() if names else model
