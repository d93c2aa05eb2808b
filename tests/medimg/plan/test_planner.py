"""Each proposal of the planner checked against the rule it follows, on the fingerprints of four
kinds of data: anisotropic CT, isotropic MR, tiny crops and 2D photos."""

import math

import pytest

from medimg.plan.planner import (
    MIN_FEATURE_MAP,
    PlanError,
    feature_map_voxels,
    make_plan,
    memory_gb,
    poolings,
    target_spacing,
    topology,
)


def fingerprint(spacing, p10, size, modality="CT", cases=100, ndim=3):
    return {
        "cases": cases,
        "ndim": ndim,
        "modality": modality,
        "channels": 1,
        "spacing": {"median": spacing, "p10": p10, "p50": spacing, "p90": spacing},
        "size_after_crop": {"median": size, "p10": size, "p50": size, "p90": size},
        "anisotropy": max(spacing) / min(spacing),
        "intensity_foreground": {
            "mean": 40.0,
            "sd": 30.0,
            "p0.5": -60.0,
            "p50": 40.0,
            "p99.5": 200.0,
        },
    }


def _fits(plan):
    assert memory_gb(plan["patch_size"], 2, plan["pool_strides"]) <= plan["budget_gb"]
    for n, p in zip(plan["patch_size"], plan["poolings_per_axis"]):
        assert n % 2**p == 0 and n / 2**p >= MIN_FEATURE_MAP  # each pooling leaves >= 4 voxels


def test_anisotropic_ct_takes_the_10th_percentile_slice_spacing_and_pools_z_last():
    ct = fingerprint([3.0, 0.7, 0.7], [2.5, 0.7, 0.7], [100, 400, 400])
    # z is over 3x coarser and has over 3x fewer voxels: its 10th percentile, not its median
    assert target_spacing(ct) == [2.5, 0.7, 0.7]
    plan = make_plan(ct, budget_gb=8)
    _fits(plan)
    assert plan["configuration"] == "3d" and plan["normalisation"]["normalize"] == "window"
    assert plan["normalisation"]["window"] == {"level": 70.0, "width": 260.0}  # -60..200 HU
    pools = plan["poolings_per_axis"]
    assert pools[0] < pools[1] == pools[2]  # in-plane is pooled until it catches up with z
    # the same rule, stepped by hand: 0.7 -> 1.4 (z at 2.5 is over 2x finer: not pooled yet)
    assert (
        poolings([64, 256, 256], [2.5, 0.7, 0.7])[0] < poolings([64, 256, 256], [2.5, 0.7, 0.7])[1]
    )


def test_anisotropic_spacing_with_many_slices_keeps_the_median():
    thick = fingerprint(
        [3.0, 0.7, 0.7], [2.5, 0.7, 0.7], [400, 400, 400]
    )  # not anisotropic in voxels
    assert target_spacing(thick) == [3.0, 0.7, 0.7]


def test_isotropic_mr_keeps_its_spacing_pools_every_axis_alike_and_is_z_scored():
    mr = fingerprint([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [160, 160, 160], modality="MR")
    plan = make_plan(mr, budget_gb=8)
    _fits(plan)
    assert plan["target_spacing"] == [1.0, 1.0, 1.0]
    # no axis is preferred: shrunk in turn, so the axes stay within one pooling step of each other
    assert max(plan["poolings_per_axis"]) - min(plan["poolings_per_axis"]) <= 1
    assert max(plan["patch_size"]) / min(plan["patch_size"]) < 1.5
    assert plan["normalisation"]["normalize"] == "percentile_zscore"
    assert plan["patch_size"][0] < 160  # 160^3 at batch 2 is over 8 GB: shrunk to fit


def test_tiny_crops_get_the_whole_crop_as_patch_and_batch_within_5_percent_of_the_data():
    tiny = fingerprint([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [35, 50, 35], modality="MR", cases=300)
    plan = make_plan(tiny, budget_gb=8)
    _fits(plan)
    # the median shape padded up to multiples of 2^poolings: nnunetv2 2.8.1's planner gives the same
    # 40x56x40 and 4 stages (3 poolings on every axis) for Hippocampus's 208 training cases
    assert plan["patch_size"] == [40, 56, 40]
    assert plan["poolings_per_axis"] == [3, 3, 3]  # 35 -> 18 -> 9 -> 5: a 4th would leave < 4
    assert plan["conv_kernels"] == [[3, 3, 3]] * 4 and plan["features"] == [32, 64, 128, 256]
    dataset = 35 * 50 * 35 * 300  # nnU-Net's 5% cap, rounded: 0.05 x dataset / patch = 10.25
    assert plan["batch_size"] == round(0.05 * dataset / math.prod(plan["patch_size"])) == 10


def test_a_2d_photo_set_is_planned_in_2d():
    photos = fingerprint([1.0, 1.0], [1.0, 1.0], [600, 800], modality="photo", cases=2000, ndim=2)
    plan = make_plan(photos, budget_gb=8)
    _fits(plan)
    assert plan["configuration"] == "2d" and len(plan["patch_size"]) == 2
    assert plan["depth"] <= 6 and plan["batch_size"] >= 2  # the U-Nets take at most 6 levels


def test_coarser_pixels_shrink_a_photo_plan_in_proportion_and_only_photos_take_them():
    photos = fingerprint([1.0, 1.0], [1.0, 1.0], [560, 768], modality="photo", cases=120, ndim=2)
    full, coarse = make_plan(photos, budget_gb=8), make_plan(photos, 8, pixel_scale=4.0)
    assert full["pixel_scale"] == 1.0 and coarse["pixel_scale"] == 4.0
    assert coarse["target_spacing"] == [4.0, 4.0]
    assert coarse["median_shape_at_target_spacing"] == [140.0, 192.0]
    _fits(coarse)
    # each axis the median shape / 4, padded up to its poolings' multiple (140 -> 144 at 2^4)
    for n, median, pools in zip(coarse["patch_size"], [140, 192], coarse["poolings_per_axis"]):
        assert median <= n < median + 2**pools
    assert coarse["depth"] < full["depth"]  # fewer pixels, fewer poolings
    ct = fingerprint([3.0, 0.7, 0.7], [2.5, 0.7, 0.7], [100, 400, 400])
    with pytest.raises(ValueError, match="pixel_scale is for pictures"):
        make_plan(ct, 8, pixel_scale=2.0)


def test_a_plan_that_cannot_fit_the_budget_says_so():
    big = fingerprint([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [512, 512, 512], modality="MR")
    with pytest.raises(PlanError, match="budget is 0.001 GB"):
        make_plan(big, budget_gb=0.001)


def test_memory_grows_with_patch_and_batch_and_is_nnunets_reference():
    levels = [[2, 2, 2]] * 4
    assert memory_gb([64, 64, 64], 4, levels) == pytest.approx(
        2 * memory_gb([64, 64, 64], 2, levels)
    )
    big = memory_gb([128, 128, 128], 2, levels + [[2, 2, 2]])
    assert 7 < big / memory_gb([64, 64, 64], 2, levels) < 9
    # nnU-Net v2's own count for its 3d_fullres Hippocampus network (4 stages, 40x56x40, 3 classes):
    # encoder 2 x (32x89600 + 64x11200 + 128x1400 + 256x175) + decoder 3 x (32x89600 + 64x11200
    # + 128x1400) + 3 x 89600
    assert feature_map_voxels([40, 56, 40], [[2, 2, 2]] * 3, 3) == (
        2 * (32 * 89600 + 64 * 11200 + 128 * 1400 + 256 * 175)
        + 3 * (32 * 89600 + 64 * 11200 + 128 * 1400)
        + 3 * 89600
    )


def test_the_pool_strides_per_level_add_up_to_the_poolings_and_pool_a_thick_z_later():
    ct = make_plan(fingerprint([3.0, 0.7, 0.7], [2.5, 0.7, 0.7], [100, 400, 400]), budget_gb=8)
    strides = ct["pool_strides"]
    assert len(strides) == ct["depth"]
    assert [sum(s == 2 for s in axis) for axis in zip(*strides)] == ct["poolings_per_axis"]
    assert strides[0] == [1, 2, 2]  # in-plane first: z at 2.5 mm is over 2x the in-plane 0.7
    assert strides[1] == [2, 2, 2]  # once in-plane has caught up, every axis is pooled
    for n, axis in zip(ct["patch_size"], zip(*strides)):
        assert n % math.prod(axis) == 0  # the patch passes through every level whole


def test_the_topology_is_nnunet_v2s_on_anisotropic_ct():
    """nnU-Net v2's get_pool_and_conv_props stepped by hand for 3 x 0.7 x 0.7 mm, 40 x 192 x 192:
    in-plane halves twice (0.7 -> 1.4 -> 2.8) before z (3.0) is under 2x the finest, and z's
    kernel is 1 until then."""
    levels, kernels = topology([40, 192, 192], [3.0, 0.7, 0.7])
    assert levels[:3] == [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    assert kernels[:3] == [[1, 3, 3], [1, 3, 3], [3, 3, 3]] and kernels[-1] == [3, 3, 3]
    assert len(kernels) == len(levels) + 1
