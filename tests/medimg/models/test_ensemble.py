"""The fold ensemble averages calibrated members: each fold's temperature divides its own logits
inside the graph, so ONNX Runtime and OpenVINO answer as torch does."""

import numpy as np
import pytest
import torch
from torch import nn

from medimg.deploy.runners import onnxruntime_runner, openvino_runner
from medimg.export.onnx_model import export_onnx
from medimg.models.ensemble import FoldEnsemble


def member(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2)).eval()


def test_each_member_is_divided_by_its_own_temperature_before_the_average():
    members, temperatures = [member(k) for k in range(3)], [0.5, 1.0, 4.0]
    x = torch.randn(5, 3, 4)
    with torch.no_grad():
        got = FoldEnsemble(members, temperatures)(x).softmax(1)
        want = torch.stack([(m(x) / t).softmax(1) for m, t in zip(members, temperatures)]).mean(0)
        plain = FoldEnsemble(members)(x).softmax(1)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert (got - plain).abs().max() > 1e-2  # the temperatures moved the scores


def test_a_temperature_count_that_does_not_match_the_folds_is_refused():
    with pytest.raises(ValueError, match="2 temperature.* ensemble of 3 folds"):
        FoldEnsemble([member(k) for k in range(3)], [1.0, 2.0])


def test_member_temperatures_are_in_the_onnx_and_openvino_graphs(tmp_path):
    model = FoldEnsemble([member(k) for k in range(3)], [0.4, 1.3, 3.0]).eval()
    x = torch.randn(4, 3, 4)
    path = export_onnx(model, x, tmp_path / "model.onnx", 18)
    onnx_out = onnxruntime_runner(path)(x.numpy())
    openvino_out = openvino_runner(path)(x.numpy())  # as the bundle runs it: f32 precision
    with torch.no_grad():
        want = model(x).numpy()
        uncalibrated = FoldEnsemble(list(model.members))(x).numpy()
    assert np.abs(onnx_out - want).max() < 1e-5
    assert np.abs(openvino_out - want).max() < 1e-4
    assert np.abs(onnx_out - uncalibrated).max() > 1e-2
