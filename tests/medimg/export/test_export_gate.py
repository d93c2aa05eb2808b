"""gate_variant: a variant keeps the key metric, and the interval of its operating point's change on
val lies within the limit, or it is not deployable."""

import numpy as np
import pytest

from medimg.config.schema import EvaluateParams
from medimg.export.gate import changes, gate_variant, operating_changes, variant_threshold

FP32 = {"auc": 0.95, "sensitivity": 0.90, "specificity": 0.80}


def cases(n: int, seed: int = 0):
    """``n`` generated val cases, one per patient: labels half positive and fp32's scores."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    return labels, rng.normal(labels * 1.5, 1.0), np.array([f"p{i}" for i in range(n)])


def moved(labels, scores, patients, flips: int, resamples: int = 500):
    """The operating change of a variant that calls ``flips`` more negatives positive than fp32."""
    variant = scores.copy()
    below = np.flatnonzero((labels == 0) & (scores < 0.75))[:flips]
    variant[below] = 0.76
    return operating_changes(labels, patients, (scores, 0.75), (variant, 0.75), resamples)


def test_a_variant_whose_specificity_interval_crosses_the_limit_is_refused():
    labels, scores, patients = cases(400)
    change = moved(labels, scores, patients, flips=20)  # specificity -0.10 on 200 negatives
    assert change["specificity"]["change"] == pytest.approx(-0.10)
    assert change["specificity"]["cases"] == 200 and change["sensitivity"]["change"] == 0.0
    reasons = gate_variant("auc", FP32, FP32, 0.02, 0.02, operating=change)
    assert len(reasons) == 1 and reasons[0].startswith("specificity moved -0.100")
    assert "on 200 cases: not within ±0.02" in reasons[0]


def test_a_small_change_is_refused_where_its_interval_reaches_past_the_limit():
    labels, scores, patients = cases(400)
    change = moved(labels, scores, patients, flips=3)  # -0.015: inside the limit as a point
    ci = change["specificity"]["ci95"]
    assert -0.02 < change["specificity"]["change"] < 0 and ci["low"] < -0.02
    assert gate_variant("auc", FP32, FP32, 0.02, 0.02, operating=change)
    unchanged = moved(labels, scores, patients, flips=0)
    assert gate_variant("auc", FP32, FP32, 0.02, 0.02, operating=unchanged) == []


def test_a_gate_with_no_case_of_a_class_refuses_and_says_so():
    labels, scores, patients = cases(20)
    change = operating_changes(
        np.zeros(20, int), patients, (scores, 0.75), (scores, 0.75), resamples=100
    )
    reasons = gate_variant("auc", FP32, FP32, 0.02, 0.02, operating=change)
    assert reasons == ["sensitivity has no interval: no case of its class among 0"]


def test_a_variant_within_the_limits_is_deployable_and_a_lost_key_metric_is_named():
    assert gate_variant("auc", {**FP32, "auc": 0.94}, FP32, 0.02, 0.02) == []
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
