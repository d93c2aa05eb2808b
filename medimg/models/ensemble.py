"""The folds of a k-fold run as one model: the deployed model is their ensemble (as nnU-Net
deploys its five folds)."""

from __future__ import annotations

import torch
from torch import nn


class FoldEnsemble(nn.Module):
    """Averages the folds' softmax probabilities and returns their log. Everything downstream
    treats the output as logits: softmax gives the averaged probabilities back exactly, a
    temperature calibrates the ensemble as it calibrates one model, and arg-max picks the class
    (or voxel label) the averaged probabilities pick. One module, so it exports as one graph."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([m(x).float().softmax(dim=1) for m in self.members]).mean(0)
        return probabilities.clamp_min(1e-12).log()

    def backbone_groups(self):
        """Fold 0's groups: Grad-CAM on the ensemble follows the gradient through its first fold."""
        return self.members[0].backbone_groups()
