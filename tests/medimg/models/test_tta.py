"""Mirroring test-time augmentation and the fold ensemble: what they average, and that the exported
graph answers as the torch module does."""

import onnxruntime as ort
import pytest
import torch
from torch import nn

from medimg.config.schema import Params
from medimg.export.onnx_model import export_onnx
from medimg.models.ensemble import FoldEnsemble
from medimg.models.tta import FlipAverage, flip_sets, with_tta


def segmenter(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 2, 1)).eval()


def test_every_combination_of_the_named_flips_is_one_pass():
    assert flip_sets([]) == [()]
    assert flip_sets(["flip_x"]) == [(), (-1,)]
    assert len(flip_sets(["flip_x", "flip_y", "flip_z"])) == 8


def test_a_segmentation_is_mirrored_back_before_the_probabilities_are_averaged():
    net, x = segmenter(0), torch.randn(2, 1, 6, 8, 8)
    with torch.no_grad():
        got = FlipAverage(net, ["flip_x", "flip_z"], segmentation=True)(x).softmax(1)
        want = torch.stack(
            [
                net(x.flip(a) if a else x).softmax(1).flip(a) if a else net(x).softmax(1)
                for a in [(), (-3,), (-1,), (-3, -1)]
            ]
        ).mean(0)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert with_tta(net, [], segmentation=True) is net


def test_a_classifier_averages_over_the_flips_without_flipping_its_output():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        got = FlipAverage(net, ["flip_x"], segmentation=False)(x).softmax(1)
        want = (net(x).softmax(1) + net(x.flip(-1)).softmax(1)) / 2
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_the_exported_ensemble_with_tta_answers_as_the_torch_module(tmp_path):
    model = FoldEnsemble(
        [with_tta(segmenter(k), ["flip_x", "flip_y"], segmentation=True) for k in range(3)]
    ).eval()
    x = torch.randn(1, 1, 8, 16, 16)
    path = export_onnx(model, x, tmp_path / "model.onnx", 18)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert abs(got - want).max() < 1e-4


def test_flip_z_on_a_2d_model_is_a_params_error():
    import yaml

    from tests.conftest import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["model"]["name"] = "resnet18"
    raw["model"]["in_channels"] = 3
    raw["evaluate"]["tta"] = ["flip_x", "flip_z"]
    with pytest.raises(ValueError, match="evaluate.tta: flip_z mirrors slices"):
        Params.model_validate(raw)
