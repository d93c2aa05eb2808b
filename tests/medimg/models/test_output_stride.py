"""model.output_stride: dilation instead of downsampling keeps the 2D segmenters' feature maps finer,
with the same weights (so ImageNet weights still fit) and the same receptive field."""

from __future__ import annotations

import pytest
import torch

from medimg.config.loading import load_params
from medimg.config.schema import ModelParams, ParamsError
from medimg.models import build_model
from medimg.models.segmentation2d import dilate, downsampling
from tests.conftest import REPO


def _feature_side(name: str, output_stride: int | None, side: int = 96) -> int:
    model = build_model(ModelParams(name=name, output_stride=output_stride)).eval()
    with torch.no_grad():
        features = model.features(torch.zeros(1, 1, side, side))
        logits = model(torch.zeros(1, 1, side, side))
    assert logits.shape[-2:] == (side, side)
    return features.shape[-1]


@pytest.mark.parametrize(
    "name, native",
    [("pspnet_resnet18", 32), ("deeplabv3_mobilenet_v3_large", 16), ("pspnet_mobilenet_v3", 16)],
)
def test_output_stride_sets_the_feature_map_size(name, native):
    assert _feature_side(name, None) == 96 // native
    assert _feature_side(name, 8) == 96 // 8
    if native > 16:
        assert _feature_side(name, 16) == 96 // 16


def test_dilation_keeps_the_weights_and_the_receptive_field():
    plain = build_model(ModelParams(name="pspnet_resnet18"))
    dilated = build_model(ModelParams(name="pspnet_resnet18", output_stride=8))
    assert [p.shape for p in plain.parameters()] == [p.shape for p in dilated.parameters()]
    layer4 = dict(dilated.backbone_groups())["layer4"]
    convs = [
        m for m in layer4.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    # layer3 gave up a stride of 2, layer4 another: its 3x3 kernels spread 4 pixels wide
    assert {c.dilation for c in convs} == {(4, 4)} and {c.stride for c in convs} == {(1, 1)}
    # the probe still sees the original network's downsampling in the groups left alone
    assert downsampling(dilated.backbone_groups())[:3] == [4, 1, 2]


def test_dilate_turns_a_strided_conv_into_a_dilated_one_of_the_same_output_size():
    conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1)
    dilate(conv, 2)
    assert conv(torch.zeros(1, 1, 12, 12)).shape[-2:] == (12, 12)
    assert conv.dilation == (2, 2) and conv.padding == (2, 2)


@pytest.mark.parametrize(
    "model, stride, words",
    [("resnet18", 8, "2D segmentation"), ("deeplabv3_mobilenet_v3_large", 32, "finer")],
)
def test_an_output_stride_that_cannot_apply_is_refused_before_any_work(model, stride, words):
    with pytest.raises(ParamsError, match=words) as caught:
        load_params(REPO / "params.yaml", [f"model.name={model}", f"model.output_stride={stride}"])
    assert "model" in str(caught.value) and "output_stride" in str(caught.value)
