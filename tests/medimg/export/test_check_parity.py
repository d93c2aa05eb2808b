"""check_parity's tolerance: atol plus rtol times each sample's largest |logit|, so float32 noise on
a near-zero logit beside large ones passes, while a real difference still fails; a class that flips
at a tie within that tolerance is counted, not failed."""

import pytest
import torch

from medimg.deploy.runners import onnxruntime_runner
from medimg.export.onnx_model import ParityError, check_parity, export_onnx


class Shifted(torch.nn.Module):
    """Identity on two logits with a fixed offset: the torch side of a controlled mismatch."""

    def __init__(self, offset: list[float]):
        super().__init__()
        self.register_buffer("offset", torch.tensor(offset))

    def forward(self, x):
        return x + self.offset


@pytest.fixture(scope="module")
def identity_session(tmp_path_factory):
    path = export_onnx(
        Shifted([0.0, 0.0]), torch.zeros(1, 2), tmp_path_factory.mktemp("onnx") / "id.onnx", 18
    )
    return onnxruntime_runner(path)


def test_noise_on_a_small_logit_beside_a_large_one_passes(identity_session):
    batch = torch.tensor(
        [[20.0, 0.001]]
    )  # 1.5e-4 off on the small logit: above atol, inside 1e-4·20
    result = check_parity(Shifted([0.0, 1.5e-4]), identity_session, batch, atol=1e-4, rtol=1e-4)
    assert result["max_abs_logit"] == pytest.approx(20.0)
    with pytest.raises(ParityError, match="parity failed"):  # without the relative part it is off
        check_parity(Shifted([0.0, 1.5e-4]), identity_session, batch, atol=1e-4, rtol=0.0)


def test_scale_is_per_sample_so_a_large_sample_does_not_excuse_a_small_one(identity_session):
    batch = torch.tensor([[20.0, 0.0], [0.5, 0.0]])
    with pytest.raises(ParityError, match="parity failed"):
        check_parity(Shifted([0.0, 5e-4]), identity_session, batch, atol=1e-4, rtol=1e-4)


def test_a_real_difference_fails_even_with_large_logits(identity_session):
    batch = torch.tensor([[20.0, 0.0]])
    with pytest.raises(ParityError, match="parity failed"):
        check_parity(Shifted([0.0, 0.05]), identity_session, batch, atol=1e-4, rtol=1e-4)


def test_a_flip_at_a_tie_is_counted_not_failed(identity_session):
    batch = torch.tensor(
        [[0.5, 0.49999], [3.0, -3.0]]
    )  # torch adds 2e-5: the first sample's argmax flips
    result = check_parity(Shifted([0.0, 2e-5]), identity_session, batch, atol=1e-4, rtol=1e-4)
    assert result["flips_at_ties"] == 1 and not result["same_predictions"]
