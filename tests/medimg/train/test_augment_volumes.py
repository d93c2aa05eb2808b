import torch

from medimg.config.schema import AugmentParams
from medimg.train.augment.volumes import augment_volumes

STILL = AugmentParams(
    flip_axes=[],
    rotate_degrees=0,
    scale=0,
    shift=0,
    elastic=0,
    noise_std=0,
    brightness=0,
    contrast=0,
)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(3, 16, 20, 24, dtype=torch.long)
    mask[:, 4:10, 6:12, 5:15] = 1
    image = mask[:, None].float() * 100 + torch.rand(3, 1, 16, 20, 24, generator=g)
    return image, mask


def test_no_change_requested_means_no_change():
    image, mask = _batch()
    out, out_mask = augment_volumes(image, STILL, torch.Generator().manual_seed(0), mask)
    torch.testing.assert_close(out, image, atol=1e-4, rtol=0)
    assert torch.equal(out_mask, mask)


def test_flips_are_exact_mirror_images():
    image, _ = _batch()
    out, _ = augment_volumes(
        image, STILL.model_copy(update={"flip_axes": [2]}), torch.Generator().manual_seed(1)
    )
    for sample, original in zip(out, image):
        assert torch.allclose(sample, original, atol=1e-4) or torch.allclose(
            sample, original.flip(-1), atol=1e-4
        )


def test_mask_follows_rotation_scale_shift_and_elastic_warps():
    image, mask = _batch()
    params = STILL.model_copy(
        update={
            "flip_axes": [0, 1, 2],
            "rotate_degrees": 20,
            "scale": 0.2,
            "shift": 0.1,
            "elastic": 0.05,
        }
    )
    out, out_mask = augment_volumes(image, params, torch.Generator().manual_seed(2), mask)
    assert not torch.equal(out_mask, mask)
    agreement = ((out[:, 0] > 50) == (out_mask == 1)).float().mean()
    assert agreement > 0.97  # nearest vs linear differ only on the boundary


def test_same_seed_same_augmentation_and_intensity_changes_apply():
    image, _ = _batch()
    params = AugmentParams(rotate_degrees=10, noise_std=0.1, brightness=0.2, contrast=0.2)
    first, _ = augment_volumes(image, params, torch.Generator().manual_seed(3))
    again, _ = augment_volumes(image, params, torch.Generator().manual_seed(3))
    other, _ = augment_volumes(image, params, torch.Generator().manual_seed(4))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_gamma_bends_intensities_within_each_samples_own_range():
    image, _ = _batch()
    curved = STILL.model_copy(update={"gamma": 0.5})
    out, _ = augment_volumes(image, curved, torch.Generator().manual_seed(3))
    for before, after in zip(image, out):
        assert torch.allclose(after.min(), before.min(), atol=1e-4)
        assert torch.allclose(after.max(), before.max(), atol=1e-3)
        order = before.flatten().argsort()  # a monotonic curve keeps the order of voxels
        assert (after.flatten()[order].diff() >= -1e-3).all()
    assert not torch.allclose(out, image, atol=1e-2)
    again, _ = augment_volumes(image, curved, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_gamma_off_draws_nothing_so_other_augmentations_keep_their_seeds():
    image, mask = _batch()
    moved = STILL.model_copy(update={"rotate_degrees": 10.0, "noise_std": 0.1})
    first, _ = augment_volumes(image, moved, torch.Generator().manual_seed(4), mask)
    second, _ = augment_volumes(
        image, moved.model_copy(update={"gamma": 0.0}), torch.Generator().manual_seed(4), mask
    )
    assert torch.equal(first, second)
