"""3D ResNet (He et al. 2016, 3D as in Hara et al. 2018) for volume classification.

The backbone is a list of named groups (stem, layer1..layer4) so training stages can freeze it,
or give each group its own learning rate; the head is the Linear → ReLU → Dropout → Linear stack.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock3d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv3d(in_ch, out_ch, 1, stride=stride, bias=False),
                                          nn.BatchNorm3d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet3d(nn.Module):
    BACKBONE = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, blocks: tuple[int, int, int, int], in_channels: int, num_classes: int, width: int,
                 head_hidden: int, dropout: float, pool: str = "avg") -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True), nn.MaxPool3d(3, stride=2, padding=1))
        channels = [width, width * 2, width * 4, width * 8]
        in_ch = width
        for index, (count, out_ch) in enumerate(zip(blocks, channels), start=1):
            stride = 1 if index == 1 else 2
            layers = [BasicBlock3d(in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1) for i in range(count)]
            setattr(self, f"layer{index}", nn.Sequential(*layers))
            in_ch = out_ch
        # max pooling keeps a small local finding (one nodule) from being averaged away
        self.pool = nn.AdaptiveMaxPool3d(1) if pool == "max" else nn.AdaptiveAvgPool3d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(in_ch, head_hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(head_hidden, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def backbone_groups(self) -> list[tuple[str, nn.Module]]:
        """Backbone parts from input to output, for freezing and layer-wise learning rates."""
        return [(name, getattr(self, name)) for name in self.BACKBONE]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, part in self.backbone_groups():
            x = part(x)
        return self.head(self.pool(x))
