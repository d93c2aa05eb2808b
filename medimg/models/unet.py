"""U-Net (Ronneberger et al., 2015) in 2D or 3D as nnU-Net v2 builds it (PlainConvUNet): one class,
the dimensionality is a constructor argument.

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
        return nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d
    return nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d


def conv_block(
    ndim: int, in_ch: int, out_ch: int, kernel: list[int] | None = None, stride=1
) -> nn.Sequential:
    """Conv-InstanceNorm-LeakyReLU twice (nnU-Net's stage); the first conv strides to downsample."""
    conv, _, norm = _layers(ndim)
    kernel = kernel or [3] * ndim
    pad = [k // 2 for k in kernel]
    return nn.Sequential(
        conv(in_ch, out_ch, kernel, stride=stride, padding=pad),
        norm(out_ch, eps=1e-5, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
        conv(out_ch, out_ch, kernel, padding=pad),
        norm(out_ch, eps=1e-5, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
    )


class UNetDecoder(nn.Module):
    """Transposed-conv upsampling and skip connections back to full resolution. With
    ``deep_supervision`` a 1x1 convolution also answers at each coarser decoder level but the
    lowest (which nnU-Net weights 0); in training the decoder then returns (full-resolution logits,
    [coarser logits, finest first]), in eval only the full-resolution logits, so validation, export
    and inference see one output."""

    def __init__(
        self,
        ndim: int,
        channels: list[int],
        num_classes: int,
        deep_supervision: bool = False,
        strides: list[list[int]] | None = None,
        kernels: list[list[int]] | None = None,
    ) -> None:
        super().__init__()
        conv, up, _ = _layers(ndim)
        strides = strides or [[2] * ndim] * (len(channels) - 1)
        kernels = kernels or [[3] * ndim] * len(channels)
        levels = range(1, len(channels) - 2) if deep_supervision else range(0)
        self.aux = nn.ModuleList(conv(channels[i], num_classes, 1) for i in levels)
        self.ups = nn.ModuleList(
            up(channels[i + 1], channels[i], strides[i], stride=strides[i])
            for i in range(len(channels) - 1)
        )
        self.blocks = nn.ModuleList(
            conv_block(ndim, 2 * channels[i], channels[i], kernels[i])
            for i in range(len(channels) - 1)
        )
        self.out = conv(channels[0], num_classes, 1)

    def forward(self, skips: list[torch.Tensor]):
        x = skips[-1]
        coarser: dict[int, torch.Tensor] = {}
        for level in reversed(range(len(self.ups))):
            x = self.ups[level](x)
            skip = skips[level]
            if x.shape[2:] != skip.shape[2:]:  # odd sizes: the strided conv floored
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


DEFAULT_LEVELS = 4  # downsamplings of the classic U-Net, by 2 on every axis


def build_unet(spec: ModelParams, ndim: int) -> UNet:
    """nnU-Net's plain U-Net: ``spec.pool_strides`` (one [stride per axis] per level, as `medimg
    plan` plans them: an anisotropic axis downsampled fewer times) or four levels of 2 on every
    axis, each by a strided convolution; ``spec.conv_kernels`` per stage (1 on an axis still too
    coarse to look across) or 3 everywhere. Features double per stage from ``spec.width`` up to
    ``spec.max_features`` (nnU-Net: 32 to 320)."""
    strides = [list(s) for s in spec.pool_strides or [[2] * ndim] * DEFAULT_LEVELS]
    if any(len(s) != ndim for s in strides):
        raise ValueError(f"model.pool_strides: each level needs {ndim} strides, got {strides}")
    kernels = [list(k) for k in spec.conv_kernels or [[3] * ndim] * (len(strides) + 1)]
    if len(kernels) != len(strides) + 1 or any(len(k) != ndim for k in kernels):
        raise ValueError(
            f"model.conv_kernels: one [kernel per axis] for each of the {len(strides) + 1} "
            f"stages ({len(strides)} pool_strides levels + 1), got {kernels}"
        )
    channels = [min(spec.width * 2**level, spec.max_features) for level in range(len(strides) + 1)]
    groups = [("enc0", conv_block(ndim, spec.in_channels, channels[0], kernels[0]))]
    groups += [
        (
            f"enc{level}",
            conv_block(
                ndim, channels[level - 1], channels[level], kernels[level], strides[level - 1]
            ),
        )
        for level in range(1, len(strides) + 1)
    ]
    return UNet(
        groups,
        UNetDecoder(ndim, channels, spec.num_classes, spec.deep_supervision, strides, kernels),
    )
