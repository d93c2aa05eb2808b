"""model.init: imagenet reads the local torch cache and never downloads; single-channel inputs sum RGB."""

import pytest
import torch
import torchvision

from medimg.config.schema import ModelParams
from medimg.models import build_model
from medimg.models.pretrained import PretrainedWeightsMissing, cache_file


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_cached_imagenet_weights_load_and_a_grey_first_conv_sums_rgb(torch_home):
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    reference = torchvision.models.resnet18().state_dict()  # stands in for the published file
    path = cache_file(weights)
    path.parent.mkdir(parents=True)
    torch.save(reference, path)
    model = build_model(ModelParams(name="resnet18", init="imagenet", in_channels=1))
    stem = model.backbone["stem"]
    torch.testing.assert_close(stem[0].weight, reference["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(
        model.backbone["layer4"][1].conv2.weight, reference["layer4.1.conv2.weight"]
    )
    # a grey image repeated over R, G, B gives the same first-layer response as the RGB original
    grey = torch.randn(1, 1, 32, 32)
    rgb_conv = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    rgb_conv.weight.data = reference["conv1.weight"]
    torch.testing.assert_close(
        stem[0](grey), rgb_conv(grey.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5
    )


def test_missing_weights_fail_with_how_to_fetch_them_unless_random_init_is_allowed(
    torch_home, caplog
):
    with pytest.raises(PretrainedWeightsMissing) as err:
        build_model(ModelParams(name="densenet121", init="imagenet"))
    message = str(err.value)
    assert (
        "densenet121-a639ec97.pth" in message
        and "get_state_dict" in message
        and "model.init: none" in message
    )
    assert not any(torch_home.rglob("*.pth")), "nothing may be downloaded"
    model = build_model(ModelParams(name="densenet121", init="imagenet", allow_random_init=True))
    assert model is not None and "RANDOM initial weights" in caplog.text


def test_three_channel_inputs_keep_the_pretrained_filters_and_other_counts_share_them():
    rgb = build_model(ModelParams(name="resnet18", in_channels=3))
    assert rgb.backbone["stem"][0].in_channels == 3
    two = build_model(ModelParams(name="efficientnet_b0", in_channels=2))
    assert two(torch.randn(1, 2, 64, 64)).shape == (1, 2)
