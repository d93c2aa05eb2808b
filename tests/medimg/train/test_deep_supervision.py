"""Deep supervision (nnU-Net): coarser decoder outputs in training, scored against the mask
downsampled, weights halving per level; one output in eval, so nothing downstream changes."""

import pytest
import torch

from medimg.config.schema import LossParams, ModelParams
from medimg.models import build_model
from medimg.train.losses import build_loss
from medimg.train.losses.deep_supervision import DeepSupervisionLoss, downsampled, level_weights


def unet(deep: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelParams(name="unet3d", width=4, deep_supervision=deep))


def test_training_answers_at_the_coarser_levels_and_eval_at_full_resolution_only():
    model, x = unet(True), torch.randn(2, 1, 32, 32, 32)
    main, coarser = model.train()(x)
    assert main.shape == (2, 2, 32, 32, 32)
    assert [c.shape[2:] for c in coarser] == [(16, 16, 16), (8, 8, 8)]
    assert model.eval()(x).shape == (2, 2, 32, 32, 32)
    assert isinstance(unet(False).train()(x), torch.Tensor)


def test_weights_halve_per_level_and_sum_to_one():
    assert level_weights(3) == pytest.approx([4 / 7, 2 / 7, 1 / 7])


def test_a_downsampled_mask_keeps_its_labels():
    mask = torch.zeros(1, 8, 8, 8, dtype=torch.long)
    mask[:, 2:6, 2:6, 2:6] = 2
    small = downsampled(mask, (4, 4, 4))
    assert small.dtype == torch.long and set(small.unique().tolist()) == {0, 2}


def test_the_loss_is_the_weighted_sum_over_levels_and_plain_on_one_output():
    base = build_loss(LossParams(name="ce_dice"))
    loss = build_loss(LossParams(name="ce_dice"), deep_supervision=True)
    assert isinstance(loss, DeepSupervisionLoss)
    mask = (torch.rand(2, 16, 16, 16) > 0.7).long()
    main, coarser = torch.randn(2, 2, 16, 16, 16), [torch.randn(2, 2, 8, 8, 8)]
    want = 2 / 3 * base(main, mask) + 1 / 3 * base(coarser[0], downsampled(mask, (8, 8, 8)))
    torch.testing.assert_close(loss((main, coarser), mask), want)
    torch.testing.assert_close(loss(main, mask), base(main, mask))


def test_training_reaches_the_auxiliary_heads():
    model = unet(True).train()
    loss = build_loss(LossParams(name="ce_dice"), deep_supervision=True)
    x, mask = torch.randn(2, 1, 32, 32, 32), (torch.rand(2, 32, 32, 32) > 0.8).long()
    loss(model(x), mask).backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in model.head.aux)


def test_deep_supervision_is_for_the_unets_only():
    with pytest.raises(ValueError, match="deep_supervision applies to the U-Nets"):
        ModelParams(name="resnet3d_18", deep_supervision=True)
