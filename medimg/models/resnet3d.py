"""3D ResNets for volume classification: ours (He et al. 2016 in 3D, as in Hara et al. 2018) and
torchvision's r3d_18, both regrouped into stem, layer1..layer4 and the seeds' head."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from medimg.config.schema import ModelParams
from medimg.models.base import PooledClassifier, global_pool, seeds_head


class BasicBlock3d(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv3d(in_ch, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv3d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm3d(out_ch)
    )


DEPTHS = {
    "resnet3d_18": (BasicBlock3d, (2, 2, 2, 2)),
    "resnet3d_34": (BasicBlock3d, (3, 4, 6, 3)),
    "resnet3d_50": (Bottleneck3d, (3, 4, 6, 3)),
}


def build_resnet3d(spec: ModelParams) -> PooledClassifier:
    block, counts = DEPTHS[spec.name]
    width = spec.width
    groups: list[tuple[str, nn.Module]] = [
        (
            "stem",
            nn.Sequential(
                nn.Conv3d(spec.in_channels, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool3d(3, stride=2, padding=1),
            ),
        )
    ]
    in_ch = width
    for index, count in enumerate(counts, start=1):
        planes = width * 2 ** (index - 1)
        stride = 1 if index == 1 else 2
        layers = []
        for i in range(count):
            layers.append(block(in_ch, planes, stride if i == 0 else 1))
            in_ch = planes * block.expansion
        groups.append((f"layer{index}", nn.Sequential(*layers)))
    model = PooledClassifier(
        groups,
        global_pool(3, spec.pool),
        seeds_head(in_ch, spec.head_hidden, spec.dropout, spec.num_classes),
    )
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model


def build_r3d_18(spec: ModelParams, weights) -> PooledClassifier:
    net = torchvision.models.video.r3d_18(weights=weights)
    groups = [("stem", net.stem)] + [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]
    return PooledClassifier(
        groups,
        global_pool(3, spec.pool),
        seeds_head(512, spec.head_hidden, spec.dropout, spec.num_classes),
    )
