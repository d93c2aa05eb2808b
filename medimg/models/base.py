"""The shape every registered model shares: named backbone groups (input → output) and a head.

Training stages freeze and unfreeze by group, and give each group its own learning rate, so every
architecture — torchvision's or ours — is rearranged into this one form when it is built.
"""

from __future__ import annotations

import torch
from torch import nn


class StagedNet(nn.Module):
    """``backbone`` holds the groups in input → output order; subclasses define ``forward``."""

    def __init__(self, groups: list[tuple[str, nn.Module]], head: nn.Module) -> None:
        super().__init__()
        self.backbone = nn.ModuleDict(groups)
        self.head = head

    def backbone_groups(self) -> list[tuple[str, nn.Module]]:
        return list(self.backbone.items())

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.backbone.values():
            x = part(x)
        return x


class PooledClassifier(StagedNet):
    """backbone → global pool → head; the pool holds no weights, so it belongs to neither side."""

    def __init__(
        self, groups: list[tuple[str, nn.Module]], pool: nn.Module, head: nn.Module
    ) -> None:
        super().__init__(groups, head)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


def seeds_head(in_features: int, hidden: int, dropout: float, num_classes: int) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear: the classification head the project's seeds use everywhere."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


def global_pool(ndim: int, kind: str) -> nn.Module:
    """Max pooling keeps one small finding (a nodule) from being averaged away; avg is the default."""
    if ndim == 3:
        return nn.AdaptiveMaxPool3d(1) if kind == "max" else nn.AdaptiveAvgPool3d(1)
    return nn.AdaptiveMaxPool2d(1) if kind == "max" else nn.AdaptiveAvgPool2d(1)


def adapt_first_conv(model: nn.Module, in_channels: int) -> None:
    """Give the first convolution ``in_channels`` inputs, keeping what pretrained RGB filters learned.

    One channel (CT, X-ray) gets the sum of the RGB filters, so a grey image that repeats one value
    in R, G and B gives the same response as before; other counts share the mean filter, rescaled.
    """
    name, conv = next(
        (n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))
    )
    if conv.in_channels == in_channels:
        return
    weight = conv.weight.detach()
    if in_channels == 1:
        new_weight = weight.sum(dim=1, keepdim=True)
    else:
        new_weight = weight.mean(dim=1, keepdim=True).repeat_interleave(in_channels, dim=1)
        new_weight = new_weight * conv.in_channels / in_channels
    replacement = type(conv)(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        replacement.weight.copy_(new_weight)
        if conv.bias is not None:
            replacement.bias.copy_(conv.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, replacement)
