import torch
import torch.nn.functional as F

from medimg.config.schema import LossParams
from medimg.train.losses import AsymmetricLoss, DiceLoss, FocalLoss, build_loss, dice_loss


def test_focal_accepts_probability_targets_and_matches_its_integer_form():
    g = torch.Generator().manual_seed(1)
    logits, target = torch.randn(8, 3, generator=g), torch.randint(0, 3, (8,), generator=g)
    onehot = F.one_hot(target, 3).float()
    weight = torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(
        FocalLoss(2.0, weight)(logits, onehot), FocalLoss(2.0, weight)(logits, target)
    )
    # gamma 0 with soft targets is the soft cross-entropy
    soft = torch.softmax(torch.randn(8, 3, generator=g), 1)
    torch.testing.assert_close(
        FocalLoss(0.0)(logits, soft), F.cross_entropy(logits, soft) * 8 / soft.sum()
    )


def test_focal_works_per_voxel_for_segmentation():
    logits, target = torch.randn(2, 2, 4, 4, 4), torch.randint(0, 2, (2, 4, 4, 4))
    torch.testing.assert_close(FocalLoss(0.0)(logits, target), F.cross_entropy(logits, target))


def test_asymmetric_without_focusing_or_clipping_is_binary_cross_entropy_per_class():
    g = torch.Generator().manual_seed(2)
    logits, target = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    expected = (
        F.binary_cross_entropy_with_logits(logits, F.one_hot(target, 4).float(), reduction="sum")
        / 6
    )
    torch.testing.assert_close(
        AsymmetricLoss(0.0, 0.0, 0.0)(logits, target), expected, rtol=1e-5, atol=1e-6
    )
    # negatives the model already rejects below the clip contribute nothing
    confident = torch.tensor([[8.0, -8.0]])
    assert AsymmetricLoss(0.0, 4.0, 0.05)(confident, torch.tensor([0])) < 1e-3


def test_compound_dice_losses_add_their_voxel_term():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    logits = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(3))
    dice = dice_loss(logits, target)
    torch.testing.assert_close(
        DiceLoss(voxel_term="ce")(logits, target), dice + F.cross_entropy(logits, target)
    )
    bce = F.binary_cross_entropy_with_logits(logits, F.one_hot(target, 2).movedim(-1, 1).float())
    torch.testing.assert_close(DiceLoss(voxel_term="bce")(logits, target), dice + bce)


def test_params_name_every_loss():
    kinds = {
        "cross_entropy": torch.nn.CrossEntropyLoss,
        "focal": FocalLoss,
        "asymmetric": AsymmetricLoss,
        "dice": DiceLoss,
        "ce_dice": DiceLoss,
        "bce_dice": DiceLoss,
    }
    for name, kind in kinds.items():
        assert isinstance(build_loss(LossParams(name=name), torch.ones(2)), kind)
