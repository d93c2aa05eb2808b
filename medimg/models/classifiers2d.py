"""torchvision's 2D classifiers, regrouped into backbone groups with the seeds' head."""

from __future__ import annotations

import torchvision
from torch import nn

from medimg.config.schema import ModelParams
from medimg.models.base import PooledClassifier, global_pool, seeds_head


def _resnet_groups(net: nn.Module) -> list[tuple[str, nn.Module]]:
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    return [("stem", stem)] + [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]


def _densenet_groups(net: nn.Module) -> list[tuple[str, nn.Module]]:
    f = net.features
    # DenseNet applies ReLU after norm5 in its forward; it goes into the last group to keep the maths
    return [
        ("stem", nn.Sequential(f.conv0, f.norm0, f.relu0, f.pool0)),
        ("block1", nn.Sequential(f.denseblock1, f.transition1)),
        ("block2", nn.Sequential(f.denseblock2, f.transition2)),
        ("block3", nn.Sequential(f.denseblock3, f.transition3)),
        ("block4", nn.Sequential(f.denseblock4, f.norm5, nn.ReLU(inplace=True))),
    ]


def _efficientnet_groups(net: nn.Module) -> list[tuple[str, nn.Module]]:
    f = net.features
    return [("stem", f[0])] + [(f"stage{i}", f[i]) for i in range(1, 8)] + [("top", f[8])]


def _mobilenet_groups(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"block{i}", block) for i, block in enumerate(net.features)]


# name → (regrouping, channels into the head)
FAMILIES = {
    "resnet18": (_resnet_groups, 512),
    "resnet50": (_resnet_groups, 2048),
    "densenet121": (_densenet_groups, 1024),
    "efficientnet_b0": (_efficientnet_groups, 1280),
    "mobilenet_v3_large": (_mobilenet_groups, 960),
    "mobilenet_v3_small": (_mobilenet_groups, 576),
}


def build_classifier2d(spec: ModelParams, weights) -> PooledClassifier:
    """``weights``: a torchvision weights enum (already checked to be cached) or None."""
    regroup, features = FAMILIES[spec.name]
    net = torchvision.models.get_model(spec.name, weights=weights)
    return PooledClassifier(
        regroup(net),
        global_pool(2, spec.pool),
        seeds_head(features, spec.head_hidden, spec.dropout, spec.num_classes),
    )
