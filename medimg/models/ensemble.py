"""The folds of a k-fold run as one model: the deployed model is their ensemble (as nnU-Net
deploys its five folds)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class FoldEnsemble(nn.Module):
    """Averages the folds' softmax probabilities and returns their log. Each fold answers on its
    own scale, so each may carry its own temperature, fitted on that fold's validation cases (the
    only cases it did not train on): the average is then one of calibrated members, and the
    temperatures travel inside the graph (a buffer), so ONNX and OpenVINO apply them as torch does.

    Everything downstream treats the output as logits: softmax gives the averaged probabilities
    back exactly and arg-max picks the class (or voxel label) the averaged probabilities pick.
    The average of calibrated members is not itself calibrated (averaging pulls scores to the
    middle), which is why the operating point is chosen on this module's own answers."""

    def __init__(self, members: list[nn.Module], temperatures: Sequence[float] | None = None):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("temperatures", torch.ones(len(members)))
        if temperatures is not None:
            self.set_temperatures(temperatures)

    def set_temperatures(self, temperatures: Sequence[float]) -> None:
        if len(temperatures) != len(self.members):
            raise ValueError(
                f"{len(temperatures)} temperature(s) for an ensemble of {len(self.members)} folds"
            )
        self.temperatures.copy_(torch.as_tensor(list(temperatures), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack(
            [
                (m(x).float() / self.temperatures[k]).softmax(dim=1)
                for k, m in enumerate(self.members)
            ]
        ).mean(0)
        return probabilities.clamp_min(1e-12).log()

    def backbone_groups(self):
        """Fold 0's groups: Grad-CAM on the ensemble follows the gradient through its first fold."""
        return self.members[0].backbone_groups()
