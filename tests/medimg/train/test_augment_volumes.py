import math

import pytest
import torch

from medimg.config.schema import AugmentParams, AugmentProbabilities
from medimg.train.augment.volumes import augment_volumes, enlarged_patch, normalised_affines

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


def test_gamma_bends_intensities_and_keeps_each_samples_mean_and_spread():
    image, _ = _batch()
    curved = STILL.model_copy(update={"gamma": 0.5})
    out, _ = augment_volumes(image, curved, torch.Generator().manual_seed(3))
    for before, after in zip(image, out):
        assert torch.allclose(after.mean(), before.mean(), atol=1e-2)
        assert torch.allclose(after.std(), before.std(), rtol=1e-3)
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


def _points(shape, coords):
    """A volume (1, 1, *shape) with a bright 3x3x3 blob at each of ``coords`` (z, y, x)."""
    volume = torch.zeros(1, 1, *shape)
    for z, y, x in coords:
        volume[0, 0, z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return volume


def _blobs(volume):
    """Centres of the bright blobs in (1, 1, *shape), in voxels, nearest the middle first."""
    from scipy import ndimage

    image = volume[0, 0].numpy()
    labels, count = ndimage.label(image > 0.2)
    centres = [torch.tensor(c) for c in ndimage.center_of_mass(image, labels, range(1, count + 1))]
    middle = torch.tensor([(n - 1) / 2 for n in image.shape])
    return sorted(centres, key=lambda c: float((c - middle).norm()))


@pytest.mark.parametrize("shape", [(40, 40, 40), (24, 56, 40)])
def test_a_rotation_keeps_lengths_and_right_angles_on_cubes_and_non_cubes(shape):
    """Rotated by 30 degrees about z (the array's first axis), the three points O, A (along y) and
    B (along x) stay as far apart and at a right angle: no shear, whatever the patch's shape."""
    centre = [n // 2 for n in shape]
    o, a, b = centre, [centre[0], centre[1] + 8, centre[2]], [centre[0], centre[1], centre[2] + 8]
    volume = _points(shape, [o, a, b])
    angle = math.radians(30)
    rot = AugmentParams(flip_axes=[], rotate_degrees=30, brightness=0)
    matrix = torch.tensor(  # about the grid's z coordinate, i.e. the array's axis 0
        [[[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]]
    )
    theta = normalised_affines(matrix, torch.zeros(1, 3), shape, shape)
    grid = torch.nn.functional.affine_grid(theta, [1, 1, *shape], align_corners=False)
    out = torch.nn.functional.grid_sample(volume, grid, align_corners=False)
    c_o, c_a, c_b = _blobs(out)
    oa, ob = c_a - c_o, c_b - c_o
    assert abs(oa.norm() - 8) < 0.2 and abs(ob.norm() - 8) < 0.2
    assert abs(float(oa @ ob)) / float(oa.norm() * ob.norm()) < 0.02  # cos of a right angle
    assert abs(float(oa[0])) < 0.1 and abs(float(oa[2])) > 2  # it did turn, about axis 0
    assert enlarged_patch(list(shape), rot) > list(shape)


def test_image_and_mask_agree_at_the_border_where_the_warp_leaves_the_patch():
    """A volume filled to its edges, shifted and rotated so the warp reaches outside: wherever the
    image is padding the mask is background, and wherever the image shows content, the label."""
    image = torch.ones(4, 1, 16, 24, 20) * 5.0
    mask = torch.ones(4, 16, 24, 20, dtype=torch.long)
    params = STILL.model_copy(update={"rotate_degrees": 30, "shift": 0.3, "scale": 0.3})
    out, out_mask = augment_volumes(image, params, torch.Generator().manual_seed(0), mask)
    assert (out_mask == 0).any()  # the warp did leave the patch
    inside = out[:, 0] > 4.99
    outside = out[:, 0] < 0.01
    assert (out_mask[inside] == 1).all() and (out_mask[outside] == 0).all()


def test_the_final_patch_is_cut_from_the_middle_of_the_larger_one_loaded():
    image, mask = _batch()
    out, out_mask = augment_volumes(
        image, STILL, torch.Generator().manual_seed(0), mask, out_shape=(8, 10, 12)
    )
    torch.testing.assert_close(out, image[:, :, 4:12, 5:15, 6:18], atol=1e-4, rtol=0)
    assert torch.equal(out_mask, mask[:, 4:12, 5:15, 6:18])


def test_probabilities_decide_how_many_samples_a_transform_touches():
    image = torch.rand(200, 1, 8, 8, 8)
    params = STILL.model_copy(
        update={"multiply": 0.25, "probability": AugmentProbabilities(multiply=0.15)}
    )
    out, _ = augment_volumes(image, params, torch.Generator().manual_seed(0))
    changed = (out - image).abs().amax(dim=(1, 2, 3, 4)) > 1e-6
    assert 15 <= int(changed.sum()) <= 45


def test_blur_and_low_resolution_smooth_but_keep_the_shape():
    image, _ = _batch()
    params = STILL.model_copy(
        update={"probability": AugmentProbabilities(blur=1.0, low_resolution=1.0)}
    )
    out, _ = augment_volumes(image, params, torch.Generator().manual_seed(0))
    assert out.shape == image.shape
    assert out.diff(dim=-1).abs().mean() < image.diff(dim=-1).abs().mean()
