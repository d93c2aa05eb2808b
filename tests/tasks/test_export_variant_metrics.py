"""The figure an exported variant is gated on, computed from real arrays."""

from __future__ import annotations

import numpy as np

from medimg.export.scoring import variant_metrics


def test_segmentation_variants_are_gated_on_dice_over_cases_with_the_structure():
    targets = np.zeros((2, 4, 4), np.int64)
    targets[0, :2, :2] = 1  # case 0 has a nodule, case 1 has none
    nothing = np.zeros((2, 2, 4, 4), np.float32)
    nothing[:, 0] = 1.0  # background everywhere
    metric, figures = variant_metrics("segmentation", 2, targets, nothing, 0.5)
    assert metric == "dice_present"
    # the empty case's free 1 no longer hides the miss; the missed structure's HD95 is the
    # worst distance there is, the image diagonal
    assert figures == {"dice": 0.5, "dice_present": 0.0, "hd95_voxels": float(np.hypot(4, 4))}
    metric, figures = variant_metrics("segmentation", 2, targets[1:], nothing[1:], 0.5)
    assert metric == "dice" and figures["dice_present"] is None


def test_classification_variants_keep_auc_or_quadratic_kappa():
    labels = np.array([0, 1, 0, 1])
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    assert variant_metrics("classification", 2, labels, logits, 0.5)[0] == "auc"
    graded = np.eye(3)[[0, 1, 2, 1]] * 3
    assert (
        variant_metrics("classification", 3, np.array([0, 1, 2, 1]), graded, 0.5)[0]
        == "quadratic_kappa"
    )
