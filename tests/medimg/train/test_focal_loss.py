import torch
import torch.nn.functional as F

from medimg.config.schema import LossParams
from medimg.train.losses import FocalLoss, build_loss


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, generator=g), torch.randint(0, 3, (16,), generator=g)


def test_gamma_zero_is_weighted_cross_entropy():
    logits, target = _batch()
    weight = torch.tensor([0.5, 1.0, 2.0])
    torch.testing.assert_close(
        FocalLoss(0.0, weight)(logits, target), F.cross_entropy(logits, target, weight=weight)
    )
    torch.testing.assert_close(FocalLoss(0.0)(logits, target), F.cross_entropy(logits, target))


def test_confident_correct_samples_count_less():
    target = torch.tensor([0, 0])
    easy, hard = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.2, 0.0]])
    ratio_ce = F.cross_entropy(easy, target[:1]) / F.cross_entropy(hard, target[:1])
    ratio_focal = FocalLoss(2.0)(easy, target[:1]) / FocalLoss(2.0)(hard, target[:1])
    assert ratio_focal < ratio_ce / 10


def test_params_choose_the_loss():
    weights = torch.ones(2)
    assert isinstance(build_loss(LossParams(name="focal", focal_gamma=1.5), weights), FocalLoss)
    assert isinstance(build_loss(LossParams(), weights), torch.nn.CrossEntropyLoss)
