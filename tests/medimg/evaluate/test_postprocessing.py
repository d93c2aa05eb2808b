"""Post-processing is chosen per label on out-of-fold cases: only where it raises the Dice."""

import numpy as np
import pytest

from medimg.evaluate.postprocessing import choose_largest_component, read_largest_component
from medimg.io.problems import MissingInput


def _case(stray_prediction: bool, split_truth: bool):
    truth = np.zeros((6, 12, 12), np.int64)
    truth[1:4, 1:5, 1:5] = 1
    if split_truth:
        truth[1:3, 8:11, 8:11] = 1  # the reference itself has a second piece
    prediction = truth.copy()
    if stray_prediction:
        prediction[5, 10, 1] = 1
    return truth, prediction


def test_a_label_whose_strays_are_false_positives_is_post_processed():
    cases = [_case(stray_prediction=True, split_truth=False) for _ in range(4)]
    decision = choose_largest_component([t for t, _ in cases], [p for _, p in cases], 2)
    assert decision["largest_component"] == [1] and decision["cases"] == 4
    scores = decision["per_label"]["1"]
    assert scores["dice_largest_component"] > scores["dice"]


def test_a_label_with_several_true_pieces_is_left_alone():
    cases = [_case(stray_prediction=False, split_truth=True) for _ in range(4)]
    decision = choose_largest_component([t for t, _ in cases], [p for _, p in cases], 2)
    assert decision["largest_component"] == []


def test_export_without_a_decision_says_to_evaluate_first(tmp_path):
    with pytest.raises(MissingInput, match="run the evaluate step first"):
        read_largest_component(tmp_path / "postprocessing.json")
