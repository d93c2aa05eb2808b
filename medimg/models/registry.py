"""Build a model by its params name (see catalog.py for what each one is)."""

from __future__ import annotations

from torch import nn

from medimg.config.catalog import CATALOG
from medimg.config.schema import ModelParams
from medimg.models.base import adapt_first_conv
from medimg.models.classifiers2d import FAMILIES, build_classifier2d
from medimg.models.pretrained import cached_weights
from medimg.models.resnet3d import DEPTHS, build_r3d_18, build_resnet3d
from medimg.models.segmentation2d import build_deeplabv3, build_pspnet
from medimg.models.unet import build_unet

# which torchvision weights model.init: imagenet loads (for segmenters, the backbone's)
PRETRAINED_SOURCE = {
    **{name: name for name in FAMILIES},
    "r3d_18": "r3d_18",
    "deeplabv3_resnet50": "resnet50",
    "deeplabv3_mobilenet_v3_large": "mobilenet_v3_large",
    "pspnet_resnet18": "resnet18",
    "pspnet_mobilenet_v3": "mobilenet_v3_large",
}


def _weights(spec: ModelParams):
    if spec.init != "imagenet":
        return None
    return cached_weights(PRETRAINED_SOURCE[spec.name], spec.allow_random_init)


def build_model(spec: ModelParams) -> nn.Module:
    """A model with ``backbone_groups()`` and ``head``; ImageNet weights from the local cache when
    ``model.init`` is imagenet. A checkpoint path in ``model.init`` is loaded by the training step."""
    name = spec.name
    if name in DEPTHS:
        return build_resnet3d(spec)
    if name.startswith("unet"):
        return build_unet(spec, CATALOG[name].ndim)
    if name in FAMILIES:
        model = build_classifier2d(spec, _weights(spec))
    elif name == "r3d_18":
        model = build_r3d_18(spec, _weights(spec))
    elif name.startswith("deeplabv3"):
        model = build_deeplabv3(spec, _weights(spec))
    else:
        model = build_pspnet(spec, _weights(spec))
    adapt_first_conv(model, spec.in_channels)
    return model
