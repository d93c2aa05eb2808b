import numpy as np
import torch

from medimg.train.losses import dice_loss, soft_dice


def test_soft_dice_of_hard_masks_is_the_dice_coefficient():
    a = torch.zeros(1, 1, 8, 8)
    b = torch.zeros(1, 1, 8, 8)
    a[..., 2:6, 2:6] = 1  # 16 pixels
    b[..., 4:8, 4:8] = 1  # 16 pixels, 4 shared
    np.testing.assert_allclose(soft_dice(a, b, eps=0).item(), 2 * 4 / 32)


def test_dice_loss_is_near_zero_for_a_confident_correct_prediction_and_high_when_wrong():
    target = torch.zeros(2, 6, 6, 6, dtype=torch.long)
    target[:, 1:4, 1:4, 1:4] = 1
    right = torch.stack([(target == 0).float(), (target == 1).float()], dim=1) * 20
    assert dice_loss(right, target) < 1e-3
    assert dice_loss(-right, target) > 0.99
    assert dice_loss(right, target, include_background=True) < 1e-3
