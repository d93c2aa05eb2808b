"""Slice and patch sampling from cached volumes for 2D and 3D segmentation training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medimg.config.schema import SamplingParams
from medimg.train.datasets import (
    ForegroundPatchSampler,
    ForegroundSliceSampler,
    VolumePatchDataset,
    VolumeSliceDataset,
    training_samples,
)


def _cache(tmp_path, masks: list[np.ndarray]) -> pd.DataFrame:
    rows = []
    for i, mask in enumerate(masks):
        image = np.stack([np.arange(mask.size, dtype=np.float32).reshape(mask.shape)])
        np.save(tmp_path / f"v{i}.npy", image)
        np.save(tmp_path / f"v{i}.mask.npy", mask.astype(np.uint8))
        rows.append(
            {
                "cache_path": f"v{i}.npy",
                "mask_cache_path": f"v{i}.mask.npy",
                "label": int(mask.any()),
                "ndim": 3,
            }
        )
    return pd.DataFrame(rows)


def _masks():
    with_nodule = np.zeros((6, 8, 10), np.uint8)
    with_nodule[2:4, 3:5, 6:8] = 1
    return [with_nodule, np.zeros((6, 8, 10), np.uint8)]


def test_slices_are_the_volume_planes_with_their_mask_rows(tmp_path):
    rows = _cache(tmp_path, _masks())
    slices = VolumeSliceDataset(rows, tmp_path)
    assert len(slices) == 12
    assert slices.foreground.tolist() == [False, False, True, True] + [False] * 8
    image, mask = slices[3]
    volume = np.load(tmp_path / "v0.npy")
    assert image.shape == (1, 8, 10) and mask.dtype == torch.int64
    np.testing.assert_array_equal(image.numpy(), volume[:, 3])
    np.testing.assert_array_equal(mask.numpy(), _masks()[0][3])


def test_foreground_sampler_keeps_every_mask_slice_and_redraws_a_share_of_empty_ones():
    flags = np.array([False] * 40 + [True] * 5 + [False] * 55)
    sampler = ForegroundSliceSampler(flags, 0.1)
    torch.manual_seed(0)
    first = list(sampler)
    second = list(sampler)
    assert len(first) == len(sampler) == 5 + 10
    for drawn in (first, second):
        assert set(range(40, 45)) <= set(drawn) and len(set(drawn)) == len(drawn)
    assert sorted(first) != sorted(second)  # a new set of empty slices each epoch
    torch.manual_seed(0)
    assert list(sampler) == first  # reseeding repeats the epoch (resume)


def test_patches_have_the_patch_shape_and_oversample_foreground(tmp_path):
    rows = _cache(tmp_path, _masks())
    always = VolumePatchDataset(
        rows.head(1), tmp_path, [2, 4, 4], foreground_ratio=1.0, per_volume=50
    )
    never = VolumePatchDataset(
        rows.head(1), tmp_path, [2, 4, 4], foreground_ratio=0.0, per_volume=50
    )
    torch.manual_seed(0)
    hits_always = [bool(always[i][1].any()) for i in range(len(always))]
    hits_never = [bool(never[i][1].any()) for i in range(len(never))]
    image, mask = always[0]
    assert image.shape == (1, 2, 4, 4) and mask.shape == (2, 4, 4)
    assert all(hits_always)
    assert sum(hits_never) < 25
    # a patch is the image crop at the same place as its mask crop
    volume = np.load(tmp_path / "v0.npy")[0]
    start = np.argwhere(volume == image[0, 0, 0, 0].item())[0]
    box = tuple(slice(a, a + p) for a, p in zip(start, (2, 4, 4)))
    np.testing.assert_array_equal(mask.numpy(), _masks()[0][box])


def test_patches_of_a_volume_without_foreground_fall_back_to_random_places(tmp_path):
    rows = _cache(tmp_path, _masks()).tail(1)
    patches = VolumePatchDataset(rows, tmp_path, [6, 8, 10], foreground_ratio=1.0, per_volume=1)
    assert patches[0][0].shape == (1, 6, 8, 10)


def test_training_samples_follows_the_model_and_the_params(tmp_path):
    rows = _cache(tmp_path, _masks())
    sampling = SamplingParams.model_validate(
        {
            "slices": {"select": "foreground", "empty_fraction": 0.5},
            "patches": {"size": [2, 4, 4], "per_volume": 3},
        }
    )
    slices, sampler = training_samples("segmentation", 2, rows, tmp_path, sampling)
    assert isinstance(slices, VolumeSliceDataset) and len(sampler) == 2 + 5
    patches, forcing = training_samples("segmentation", 3, rows, tmp_path, sampling)
    assert isinstance(patches, VolumePatchDataset) and len(patches) == 6
    assert isinstance(forcing, ForegroundPatchSampler) and len(forcing) == 6
    whole, _ = training_samples("classification", 3, rows, tmp_path, sampling)
    assert len(whole) == 2 and whole[0][0].shape == (1, 6, 8, 10)


def test_a_third_of_every_batch_is_forced_onto_foreground():
    sampler = ForegroundPatchSampler(slots=30, batch_size=3, ratio=0.33)
    torch.manual_seed(0)
    drawn = list(sampler)
    assert sorted(i % 30 for i in drawn) == list(range(30))  # each slot once
    forced = [30 <= i < 60 for i in drawn]
    assert forced == [False, False, True] * 10  # nnU-Net: the last round(3 x 0.33) of each batch
    assert all(i >= 60 for i, f in zip(drawn, forced) if not f)  # the others: anywhere, no coin


def test_forced_patches_choose_among_the_classes_present_not_by_size(tmp_path):
    mask = np.zeros((10, 12, 14), np.uint8)
    mask[:, :, :10] = 1  # a big class
    mask[5, 6, 12] = 2  # and one voxel of another
    rows = _cache(tmp_path, [mask])
    patches = VolumePatchDataset(rows, tmp_path, [2, 2, 2], foreground_ratio=0.0, per_volume=200)
    torch.manual_seed(0)
    forced = [patches[len(patches) + i][1] for i in range(200)]
    with_small = sum(bool((m == 2).any()) for m in forced)
    assert 70 <= with_small <= 130  # about half, though it is 1 voxel in 1200


def test_patches_reach_past_the_edge_zero_padded_image_and_mask_alike(tmp_path):
    mask = np.ones((6, 8, 10), np.uint8)
    rows = _cache(tmp_path, [mask])
    load = [10, 12, 14]  # enlarged by 4 per axis for the warp: up to 2 voxels past each edge
    patches = VolumePatchDataset(rows, tmp_path, [6, 8, 10], 0.0, per_volume=100, load_size=load)
    torch.manual_seed(0)
    starts = [patches.start(0, False, mask.shape) for _ in range(100)]
    assert min(min(s) for s in starts) == -2 and patches[0][0].shape == (1, 10, 12, 14)
    for index in range(20):
        image, m = patches[index]
        assert image.shape[1:] == m.shape == (10, 12, 14)
        # every padded voxel is background, every real one keeps its label
        assert int(m.sum()) == mask.size and int((image[0] != 0).sum()) >= mask.size - 1


def test_a_fixed_epoch_draws_its_batches_from_random_volumes_a_third_forced():
    sampler = ForegroundPatchSampler(slots=4, batch_size=3, ratio=0.33, batches=10)
    torch.manual_seed(0)
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == 30
    assert [4 <= i < 8 for i in drawn] == [False, False, True] * 10
    assert {i % 4 for i in drawn} == {0, 1, 2, 3}  # with replacement, every volume comes up


def test_unforced_patches_from_the_sampler_are_placed_without_a_coin(tmp_path):
    mask = np.zeros((20, 20, 20), np.uint8)
    mask[0, 0, 0] = 1  # one voxel in a corner: a random 4^3 patch seldom holds it
    rows = _cache(tmp_path, [mask])
    patches = VolumePatchDataset(rows, tmp_path, [4, 4, 4], foreground_ratio=1.0, per_volume=100)
    torch.manual_seed(0)
    anywhere = [bool(patches[2 * len(patches) + i][1].any()) for i in range(100)]
    coin = [bool(patches[i][1].any()) for i in range(100)]  # ratio 1: always on foreground
    assert sum(anywhere) < 20 and all(coin)


def test_pictures_take_a_fixed_epoch_of_random_batches_when_the_budget_sets_one(tmp_path):
    rows = []
    for i in range(3):
        np.save(tmp_path / f"p{i}.npy", np.full((3, 8, 10), i, np.float32))
        np.save(tmp_path / f"p{i}.mask.npy", np.zeros((8, 10), np.uint8))
        rows.append(
            {"cache_path": f"p{i}.npy", "mask_cache_path": f"p{i}.mask.npy", "label": 1, "ndim": 2}
        )
    rows = pd.DataFrame(rows)
    whole, none = training_samples("segmentation", 2, rows, tmp_path, SamplingParams())
    assert none is None  # each picture once per epoch, shuffled by the loader
    budgeted = SamplingParams(patches={"batches_per_epoch": 7})
    pictures, sampler = training_samples("segmentation", 2, rows, tmp_path, budgeted, None, 4)
    torch.manual_seed(0)
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == 7 * 4 and set(drawn) == {0, 1, 2}  # with replacement
    torch.manual_seed(0)
    assert list(sampler) == drawn  # from torch's generator, which the loop reseeds per epoch
    _, classes = training_samples("classification", 2, rows, tmp_path, budgeted, None, 4)
    assert classes is None
