"""Build a model by its params name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from medimg.models.resnet3d import ResNet3d
from medimg.params import ModelParams

BUILDERS: dict[str, Callable[[ModelParams], nn.Module]] = {
    "resnet3d_18": lambda m: ResNet3d((2, 2, 2, 2), m.in_channels, m.num_classes, m.width, m.head_hidden, m.dropout, m.pool),
    "resnet3d_34": lambda m: ResNet3d((3, 4, 6, 3), m.in_channels, m.num_classes, m.width, m.head_hidden, m.dropout, m.pool),
}


def build_model(spec: ModelParams) -> nn.Module:
    """A freshly initialised model; weights from ``model.init`` are loaded by the training step."""
    return BUILDERS[spec.name](spec)
