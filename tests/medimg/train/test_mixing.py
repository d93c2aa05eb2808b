import torch

from medimg.config.training import MixParams
from medimg.train.mixing import mix_batch


def _batch(ndim):
    x = torch.stack([torch.zeros((1,) + (16,) * ndim), torch.ones((1,) + (16,) * ndim)])
    return x, torch.tensor([0, 1])


def test_mixup_mixes_images_and_labels_by_the_same_weight():
    for ndim in (2, 3):
        x, y = _batch(ndim)
        mixed, target = mix_batch(
            x, y, 2, MixParams(method="mixup"), torch.Generator().manual_seed(0)
        )
        lam = target[0, 0].item()  # image 0 (zeros) mixed with image 1 (ones): its mean is 1 - lam
        torch.testing.assert_close(mixed[0].mean().item(), 1 - lam)
        torch.testing.assert_close(target.sum(1), torch.ones(2))


def test_cutmix_label_weight_is_the_pasted_box_share_in_2d_and_3d():
    for ndim in (2, 3):
        x, y = _batch(ndim)
        mixed, target = mix_batch(
            x, y, 2, MixParams(method="cutmix", alpha=1.0), torch.Generator().manual_seed(4)
        )
        pasted = mixed[0].mean().item()  # share of image 0 now holding image 1's ones
        torch.testing.assert_close(target[0, 1].item(), pasted)
        assert set(mixed[0].unique().tolist()) <= {0.0, 1.0}


def test_mixing_is_reproducible_from_the_generator_and_none_only_one_hots():
    x, y = _batch(2)
    a = mix_batch(x, y, 2, MixParams(method="cutmix"), torch.Generator().manual_seed(9))
    b = mix_batch(x, y, 2, MixParams(method="cutmix"), torch.Generator().manual_seed(9))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    same, onehot = mix_batch(x, y, 2, MixParams(method="none"), torch.Generator())
    assert torch.equal(same, x) and onehot.tolist() == [[1.0, 0.0], [0.0, 1.0]]
