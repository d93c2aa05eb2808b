"""What each registered model is, without importing torch: task, dimensionality and backbone groups.

params.yaml is checked against this table before any work, so a stage that unfreezes "from layer3"
on a model without a layer3, or Dice as the early-stopping metric of a classifier, fails at once.
A test builds every model and checks its groups are exactly the ones listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RESNET = ("stem", "layer1", "layer2", "layer3", "layer4")
DENSENET = ("stem", "block1", "block2", "block3", "block4")
EFFICIENTNET = ("stem", *(f"stage{i}" for i in range(1, 8)), "top")
MOBILENET_LARGE = tuple(f"block{i}" for i in range(17))
MOBILENET_SMALL = tuple(f"block{i}" for i in range(13))
UNET = ("enc0", "enc1", "enc2", "enc3", "enc4")


@dataclass(frozen=True)
class ModelInfo:
    task: Literal["classification", "segmentation"]
    ndim: Literal[2, 3]
    groups: tuple[str, ...]  # backbone groups, input → output; the rest is the head
    pretrained: str | None = None  # what model.init: imagenet loads (None: no published weights)


CATALOG: dict[str, ModelInfo] = {
    "resnet18": ModelInfo("classification", 2, RESNET, "ImageNet"),
    "resnet50": ModelInfo("classification", 2, RESNET, "ImageNet"),
    "efficientnet_b0": ModelInfo("classification", 2, EFFICIENTNET, "ImageNet"),
    "densenet121": ModelInfo("classification", 2, DENSENET, "ImageNet"),
    "mobilenet_v3_large": ModelInfo("classification", 2, MOBILENET_LARGE, "ImageNet"),
    "mobilenet_v3_small": ModelInfo("classification", 2, MOBILENET_SMALL, "ImageNet"),
    "resnet3d_18": ModelInfo("classification", 3, RESNET),
    "resnet3d_34": ModelInfo("classification", 3, RESNET),
    "resnet3d_50": ModelInfo("classification", 3, RESNET),
    "r3d_18": ModelInfo(
        "classification", 3, RESNET, "Kinetics-400 (torchvision's only r3d_18 weights)"
    ),
    "deeplabv3_mobilenet_v3_large": ModelInfo(
        "segmentation", 2, MOBILENET_LARGE, "ImageNet (backbone)"
    ),
    "deeplabv3_resnet50": ModelInfo("segmentation", 2, RESNET, "ImageNet (backbone)"),
    "pspnet_resnet18": ModelInfo("segmentation", 2, RESNET, "ImageNet (backbone)"),
    "pspnet_mobilenet_v3": ModelInfo("segmentation", 2, MOBILENET_LARGE, "ImageNet (backbone)"),
    "unet2d": ModelInfo("segmentation", 2, UNET),
    "unet3d": ModelInfo("segmentation", 3, UNET),
}

MODEL_NAMES = tuple(CATALOG)

# 2D segmenters: how far the backbone downsamples as torchvision builds it (model.output_stride can
# only make this finer, by trading strides for dilation)
NATIVE_OUTPUT_STRIDE = {
    "deeplabv3_mobilenet_v3_large": 16,
    "deeplabv3_resnet50": 8,
    "pspnet_resnet18": 32,
    "pspnet_mobilenet_v3": 16,
}

CLASSIFICATION_METRICS = ("auc", "kappa", "accuracy", "loss")
SEGMENTATION_METRICS = ("dice", "loss")
CLASSIFICATION_LOSSES = ("cross_entropy", "focal", "asymmetric")
SEGMENTATION_LOSSES = ("dice", "bce_dice", "ce_dice", "cross_entropy", "focal")
