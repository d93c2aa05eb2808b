"""2D segmentation: torchvision's DeepLabV3 with its classifier replaced, and PSPNet.

PSPNet (Zhao et al., 2017) pools the backbone's last feature map at several grid sizes, so every
pixel sees context from the whole slice as well as its neighbourhood.

``model.output_stride`` trades the backbone's last downsamplings for dilated convolutions (DeepLab's
atrous convolution): the feature map keeps 2-4x the resolution at the same receptive field, which
decides whether a lesion a few pixels across still exists on it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.segmentation.deeplabv3 import DeepLabHead

from medimg.config.catalog import NATIVE_OUTPUT_STRIDE
from medimg.config.schema import ModelParams
from medimg.models.base import StagedNet
from medimg.models.classifiers2d import _mobilenet_groups, _resnet_groups


class UpsampledSegmenter(StagedNet):
    """backbone → head → bilinear upsampling back to the input's size: logits (B, K, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    def __init__(self, in_ch: int, pool_sizes: list[int]) -> None:
        super().__init__()
        branch_ch = max(in_ch // len(pool_sizes), 8)
        # no BatchNorm in the branches: a 1x1 pooled map with a batch of one has no statistics
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(size), nn.Conv2d(in_ch, branch_ch, 1), nn.ReLU(inplace=True)
            )
            for size in pool_sizes
        )
        self.out_channels = in_ch + branch_ch * len(pool_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(branch(x), size=size, mode="bilinear", align_corners=False)
            for branch in self.branches
        ]
        return torch.cat([x, *pooled], dim=1)


def pspnet_head(
    in_ch: int, pool_sizes: list[int], num_classes: int, hidden: int = 256
) -> nn.Sequential:
    pyramid = PyramidPooling(in_ch, pool_sizes)
    return nn.Sequential(
        pyramid,
        nn.Conv2d(pyramid.out_channels, hidden, 3, padding=1, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Dropout2d(0.1),
        nn.Conv2d(hidden, num_classes, 1),
    )


def dilate(block: nn.Module, rate: int) -> None:
    """Make ``block`` keep its input's resolution: its stride-2 convolutions take stride 1 and every
    kernel larger than 1 spreads ``rate`` times wider (padding to match), in place."""
    for conv in block.modules():
        if isinstance(conv, nn.Conv2d):
            conv.stride = (1, 1)
            if conv.kernel_size[0] > 1:
                conv.dilation = tuple(d * rate for d in conv.dilation)
                conv.padding = tuple(
                    (k - 1) // 2 * d for k, d in zip(conv.kernel_size, conv.dilation)
                )


def downsampling(groups: list[tuple[str, nn.Module]], probe_size: int = 128) -> list[int]:
    """How much each group shrinks the feature map, measured on a probe image: one rule serves
    ResNet stages (the stem: 4) and MobileNet blocks alike."""
    first = next(m for _, g in groups for m in g.modules() if isinstance(m, nn.Conv2d))
    x, steps = torch.zeros(1, first.in_channels, probe_size, probe_size), []
    with torch.no_grad():
        for _, group in groups:
            training = group.training
            size = x.shape[-1]
            x = group.eval()(x)
            group.train(training)
            steps.append(size // x.shape[-1])
    return steps


def limit_output_stride(groups: list[tuple[str, nn.Module]], output_stride: int) -> None:
    """Dilate every group from the one that would take the map below 1/``output_stride``, each by
    the downsampling given up so far, so receptive fields stay as they were."""
    stride, rate = 1, 1
    for (_, group), step in zip(groups, downsampling(groups)):
        if stride * step > output_stride:
            rate *= step
        else:
            stride *= step
        if rate > 1:
            dilate(group, rate)


def _apply_output_stride(spec: ModelParams, groups: list[tuple[str, nn.Module]]) -> None:
    if spec.output_stride is not None and spec.output_stride < NATIVE_OUTPUT_STRIDE[spec.name]:
        limit_output_stride(groups, spec.output_stride)


def build_deeplabv3(spec: ModelParams, backbone_weights) -> UpsampledSegmenter:
    builder = getattr(torchvision.models.segmentation, spec.name)
    net = builder(
        weights=None,
        weights_backbone=backbone_weights,
        num_classes=spec.num_classes,
        aux_loss=False,
    )
    if spec.name == "deeplabv3_resnet50":
        groups, channels = _resnet_groups(net.backbone), 2048
    else:
        groups, channels = (
            [(f"block{name}", part) for name, part in net.backbone.named_children()],
            960,
        )
    _apply_output_stride(spec, groups)
    return UpsampledSegmenter(groups, DeepLabHead(channels, spec.num_classes, spec.atrous_rates))


def build_pspnet(spec: ModelParams, backbone_weights) -> UpsampledSegmenter:
    if spec.name == "pspnet_resnet18":
        groups, channels = (
            _resnet_groups(torchvision.models.resnet18(weights=backbone_weights)),
            512,
        )
    else:
        # dilated: output stride 16 instead of 32 keeps small lesions on the feature map
        net = torchvision.models.mobilenet_v3_large(weights=backbone_weights, dilated=True)
        groups, channels = _mobilenet_groups(net), 960
    _apply_output_stride(spec, groups)
    return UpsampledSegmenter(groups, pspnet_head(channels, spec.pool_sizes, spec.num_classes))
