"""Per-case segmentation metrics: surface distances agree with brute-force pairwise distances and
with SimpleITK's filters (contour, Hausdorff, Maurer distance map), in mm, with anisotropic spacing."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial.distance import cdist

from medimg.metrics.segmentation import case_metrics

SPACING = (2.5, 0.8, 0.7)  # z, y, x mm


def _ball(shape, centre, radius):
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2


def _surface(mask):
    return mask & ~ndimage.binary_erosion(
        mask, structure=ndimage.generate_binary_structure(mask.ndim, 1)
    )


def _brute_force_distances(a, b):
    """Every surface voxel of a to its nearest surface voxel of b, by all pairwise distances."""
    pa = np.argwhere(_surface(a)) * SPACING
    pb = np.argwhere(_surface(b)) * SPACING
    return cdist(pa, pb).min(1)


def _image(mask):
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing(SPACING[::-1])
    return img


def test_surface_distances_agree_with_scipy_and_the_hausdorff_filter():
    truth = _ball((20, 32, 32), (10, 16, 16), 7)
    predicted = _ball((20, 32, 32), (11, 14, 17), 6)
    got = case_metrics(predicted, truth, SPACING)
    both = np.concatenate(
        [_brute_force_distances(predicted, truth), _brute_force_distances(truth, predicted)]
    )
    assert got["hd95_mm"] == pytest.approx(np.percentile(both, 95), abs=1e-9)
    assert got["assd_mm"] == pytest.approx(both.mean(), abs=1e-9)
    # SimpleITK: the same contours, the same maximum (double precision) ...
    for mask in (predicted, truth):
        contour = sitk.GetArrayFromImage(sitk.LabelContour(_image(mask), fullyConnected=False)) > 0
        assert np.array_equal(contour, _surface(mask))
    hausdorff = sitk.HausdorffDistanceImageFilter()
    hausdorff.Execute(_image(_surface(predicted)), _image(_surface(truth)))
    assert both.max() == pytest.approx(hausdorff.GetHausdorffDistance(), abs=1e-9)
    # ... and HD95 from its Maurer distance maps, which are float32, so to 1e-5
    maps = [
        np.abs(
            sitk.GetArrayFromImage(
                sitk.SignedMaurerDistanceMap(
                    sitk.LabelContour(_image(m), fullyConnected=False),
                    insideIsPositive=False,
                    squaredDistance=False,
                    useImageSpacing=True,
                )
            )
        )
        for m in (truth, predicted)
    ]
    itk = np.concatenate([maps[0][_surface(predicted)], maps[1][_surface(truth)]])
    assert got["hd95_mm"] == pytest.approx(np.percentile(itk, 95), abs=1e-5)


def test_overlap_and_volume_figures():
    truth = np.zeros((4, 10, 10), bool)
    truth[1:3, 2:6, 2:6] = True  # 32 voxels
    predicted = np.zeros_like(truth)
    predicted[1:3, 4:8, 2:6] = True  # 32 voxels, 16 shared
    got = case_metrics(predicted, truth, SPACING)
    assert got["dice"] == pytest.approx(0.5) and got["iou"] == pytest.approx(16 / 48)
    assert got["precision"] == pytest.approx(0.5) and got["recall"] == pytest.approx(0.5)
    assert got["volume_difference_ml"] == pytest.approx(0.0)
    assert got["volume_true_ml"] == pytest.approx(32 * np.prod(SPACING) / 1000)


def test_empty_mask_convention():
    empty = np.zeros((4, 8, 8), bool)
    some = empty.copy()
    some[1:3, 2:4, 2:4] = True
    assert case_metrics(empty, empty, SPACING)["dice"] == 1.0
    assert case_metrics(empty, empty, SPACING)["hd95_mm"] == 0.0
    missed = case_metrics(empty, some, SPACING)
    assert missed["dice"] == 0.0 and missed["hd95_mm"] is None and missed["recall"] == 0.0


def test_pooled_dice_counts_false_positives_of_empty_cases_and_gives_them_no_free_ones():
    import torch

    from medimg.metrics.segmentation import overlap_counts, pooled_dice

    truth = torch.zeros(2, 4, 4, dtype=torch.long)
    truth[0, :2, :2] = 1  # case 0 has 4 voxels of class 1, case 1 is empty
    predicted = truth.clone()
    assert pooled_dice(overlap_counts(predicted, truth, 2)) == 1.0
    predicted[1, 3, 3] = 1  # one false positive in the empty case
    counts = overlap_counts(predicted, truth, 2)
    assert counts.tolist() == [[4.0, 1.0, 0.0]]
    assert pooled_dice(counts) == 8 / 9
    assert (
        pooled_dice(overlap_counts(torch.zeros_like(truth), truth, 2)) == 0.0
    )  # predicting nothing
    assert pooled_dice(overlap_counts(torch.zeros_like(truth), torch.zeros_like(truth), 2)) == 1.0
