"""2D segmentation: torchvision's DeepLabV3 with its classifier replaced, and PSPNet.

PSPNet (Zhao et al., 2017) pools the backbone's last feature map at several grid sizes, so every
pixel sees context from the whole slice as well as its neighbourhood.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.segmentation.deeplabv3 import DeepLabHead

from medimg.models.base import StagedNet
from medimg.models.classifiers2d import _mobilenet_groups, _resnet_groups
from medimg.params import ModelParams


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
            nn.Sequential(nn.AdaptiveAvgPool2d(size), nn.Conv2d(in_ch, branch_ch, 1), nn.ReLU(inplace=True))
            for size in pool_sizes)
        self.out_channels = in_ch + branch_ch * len(pool_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(branch(x), size=size, mode="bilinear", align_corners=False)
                  for branch in self.branches]
        return torch.cat([x, *pooled], dim=1)


def pspnet_head(in_ch: int, pool_sizes: list[int], num_classes: int, hidden: int = 256) -> nn.Sequential:
    pyramid = PyramidPooling(in_ch, pool_sizes)
    return nn.Sequential(pyramid, nn.Conv2d(pyramid.out_channels, hidden, 3, padding=1, bias=False),
                         nn.BatchNorm2d(hidden), nn.ReLU(inplace=True), nn.Dropout2d(0.1),
                         nn.Conv2d(hidden, num_classes, 1))


def build_deeplabv3(spec: ModelParams, backbone_weights) -> UpsampledSegmenter:
    builder = getattr(torchvision.models.segmentation, spec.name)
    net = builder(weights=None, weights_backbone=backbone_weights, num_classes=spec.num_classes, aux_loss=False)
    if spec.name == "deeplabv3_resnet50":
        groups, channels = _resnet_groups(net.backbone), 2048
    else:
        groups, channels = [(f"block{name}", part) for name, part in net.backbone.named_children()], 960
    return UpsampledSegmenter(groups, DeepLabHead(channels, spec.num_classes))


def build_pspnet(spec: ModelParams, backbone_weights) -> UpsampledSegmenter:
    if spec.name == "pspnet_resnet18":
        groups, channels = _resnet_groups(torchvision.models.resnet18(weights=backbone_weights)), 512
    else:
        # dilated: output stride 16 instead of 32 keeps small lesions on the feature map
        net = torchvision.models.mobilenet_v3_large(weights=backbone_weights, dilated=True)
        groups, channels = _mobilenet_groups(net), 960
    return UpsampledSegmenter(groups, pspnet_head(channels, spec.pool_sizes, spec.num_classes))
