"""gate_variant: a variant keeps the key metric and its own operating point on val, or it is not deployable."""

import numpy as np
import pytest

from medimg.config.schema import EvaluateParams
from medimg.export.gate import changes, gate_variant, variant_threshold

FP32 = {"auc": 0.95, "sensitivity": 0.90, "specificity": 0.80}


def test_a_variant_that_moves_specificity_by_a_tenth_is_not_deployable_though_it_keeps_auc():
    int8 = {"auc": 0.95, "sensitivity": 0.91, "specificity": 0.70}
    reasons = gate_variant("auc", int8, FP32, 0.02, 0.02)
    assert len(reasons) == 1 and reasons[0].startswith("specificity 0.700 against 0.800")
    assert "moved -0.100" in reasons[0]


def test_a_rise_beyond_the_limit_also_moves_the_operating_point():
    assert gate_variant("auc", {**FP32, "sensitivity": 0.95}, FP32, 0.02, 0.02)


def test_a_variant_within_both_limits_is_deployable_and_a_lost_key_metric_is_named():
    assert (
        gate_variant(
            "auc", {"auc": 0.94, "sensitivity": 0.89, "specificity": 0.81}, FP32, 0.02, 0.02
        )
        == []
    )
    reasons = gate_variant("auc", {**FP32, "auc": 0.90}, FP32, 0.02, 0.02)
    assert reasons == ["auc 0.900 against 0.950 (drop 0.050 > 0.02)"]


def test_segmentation_is_gated_on_its_key_metric_only():
    assert (
        gate_variant("dice_present", {"dice_present": 0.70}, {"dice_present": 0.71}, 0.02, 0.02)
        == []
    )
    assert gate_variant("dice_present", {"dice_present": 0.60}, {"dice_present": 0.71}, 0.02, 0.02)


def test_each_variant_gets_its_own_threshold_by_the_evaluate_rule():
    targets = np.array([0, 0, 0, 1, 1, 1])
    logits = np.stack([np.zeros(6), np.array([-2.0, -1.0, 0.5, 0.6, 2.0, 3.0])], axis=1)
    youden = variant_threshold("classification", 2, targets, logits, EvaluateParams())
    shifted = variant_threshold("classification", 2, targets, logits + [0.0, 1.0], EvaluateParams())
    assert youden is not None and shifted is not None and shifted > youden
    assert variant_threshold("classification", 5, targets, logits, EvaluateParams()) is None
    assert variant_threshold("segmentation", 2, targets, logits, EvaluateParams()) is None


def test_changes_are_none_where_either_side_is_undefined():
    assert changes({"a": 0.5, "b": None}, {"a": 0.25, "b": 0.1}) == {
        "a": pytest.approx(0.25),
        "b": None,
    }


def test_a_segmentation_whose_boundaries_drift_is_not_deployable_though_dice_holds():
    fp32 = {"dice_present": 0.71, "hd95_voxels": 2.0}
    assert gate_variant("dice_present", {**fp32, "hd95_voxels": 2.9}, fp32, 0.02, 0.02, 1.0) == []
    reasons = gate_variant("dice_present", {**fp32, "hd95_voxels": 4.5}, fp32, 0.02, 0.02, 1.0)
    assert reasons == ["hd95_voxels 4.50 against 2.00 (grew 2.50 > 1.0)"]
    assert gate_variant("dice_present", {**fp32, "hd95_voxels": None}, fp32, 0.02, 0.02, 1.0)


def test_median_hd95_counts_a_missed_structure_as_the_worst_distance():
    from medimg.export.scoring import median_hd95

    truth = np.zeros((3, 8, 8), int)
    truth[:, 2:5, 2:5] = 1
    predicted = truth.copy()
    predicted[0, 2:5, 5] = 1  # one column too wide: HD95 1 voxel
    predicted[2] = 0  # missed
    value = median_hd95(predicted, truth, 2)
    assert value == pytest.approx(1.0)  # median of 1, 0 and the diagonal
    assert median_hd95(np.zeros_like(truth), np.zeros_like(truth), 2) is None
