"""U-Net (Ronneberger et al., 2015) in 2D or 3D: one class, the dimensionality is a constructor argument.

InstanceNorm rather than BatchNorm, as nnU-Net does: 3D batches are often one or two volumes.
The encoder levels are the backbone groups; the decoder with its skip connections is the head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medimg.config.schema import ModelParams
from medimg.models.base import StagedNet


def _layers(ndim: int):
    if ndim == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d, nn.MaxPool3d
    return nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d, nn.MaxPool2d


def double_conv(ndim: int, in_ch: int, out_ch: int) -> nn.Sequential:
    conv, _, norm, _ = _layers(ndim)
    return nn.Sequential(
        conv(in_ch, out_ch, 3, padding=1, bias=False),
        norm(out_ch, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
        conv(out_ch, out_ch, 3, padding=1, bias=False),
        norm(out_ch, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
    )


class UNetDecoder(nn.Module):
    """Up-convolutions and skip connections back to full resolution. With ``deep_supervision``
    a 1x1 convolution also answers at each coarser decoder level but the lowest; in training the
    decoder then returns (full-resolution logits, [coarser logits, finest first]), in eval only
    the full-resolution logits, so validation, export and inference see one output."""

    def __init__(
        self,
        ndim: int,
        channels: list[int],
        num_classes: int,
        deep_supervision: bool = False,
        strides: list[list[int]] | None = None,
    ) -> None:
        super().__init__()
        conv, up, _, _ = _layers(ndim)
        strides = strides or [[2] * ndim] * (len(channels) - 1)
        levels = range(1, len(channels) - 2) if deep_supervision else range(0)
        self.aux = nn.ModuleList(conv(channels[i], num_classes, 1) for i in levels)
        self.ups = nn.ModuleList(
            up(channels[i + 1], channels[i], strides[i], stride=strides[i])
            for i in range(len(channels) - 1)
        )
        self.blocks = nn.ModuleList(
            double_conv(ndim, 2 * channels[i], channels[i]) for i in range(len(channels) - 1)
        )
        self.out = conv(channels[0], num_classes, 1)

    def forward(self, skips: list[torch.Tensor]):
        x = skips[-1]
        coarser: dict[int, torch.Tensor] = {}
        for level in reversed(range(len(self.ups))):
            x = self.ups[level](x)
            skip = skips[level]
            if (
                x.shape[2:] != skip.shape[2:]
            ):  # odd sizes: pooling floored, so match the skip exactly
                x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = self.blocks[level](torch.cat([skip, x], dim=1))
            if self.training and 1 <= level <= len(self.aux):
                coarser[level] = self.aux[level - 1](x)
        if self.training and self.aux:
            return self.out(x), [coarser[level] for level in sorted(coarser)]
        return self.out(x)


class UNet(StagedNet):
    def forward(self, x: torch.Tensor):
        skips = []
        for part in self.backbone.values():
            x = part(x)
            skips.append(x)
        return self.head(skips)


DEFAULT_LEVELS = 4  # poolings of the classic U-Net, by 2 on every axis


def build_unet(spec: ModelParams, ndim: int) -> UNet:
    """A U-Net with ``spec.pool_strides`` (one [stride per axis] per level, as `medimg plan` plans
    them: an anisotropic axis pooled fewer times), or four levels of 2 on every axis. Features
    double per level up to 16x the first level's, where nnU-Net caps them too."""
    _, _, _, pool = _layers(ndim)
    strides = [list(s) for s in spec.pool_strides or [[2] * ndim] * DEFAULT_LEVELS]
    if any(len(s) != ndim for s in strides):
        raise ValueError(f"model.pool_strides: each level needs {ndim} strides, got {strides}")
    channels = [spec.width * 2 ** min(level, 4) for level in range(len(strides) + 1)]
    groups = [("enc0", double_conv(ndim, spec.in_channels, channels[0]))]
    groups += [
        (
            f"enc{level}",
            nn.Sequential(
                pool(strides[level - 1], stride=strides[level - 1]),
                double_conv(ndim, channels[level - 1], channels[level]),
            ),
        )
        for level in range(1, len(strides) + 1)
    ]
    return UNet(
        groups,
        UNetDecoder(ndim, channels, spec.num_classes, spec.deep_supervision, strides),
    )
