"""How many cases a decision rests on, and when reports must call it coarse."""

import numpy as np
import torch

from medimg.metrics.evidence import FEW_CASES, decision_basis


def test_a_binary_decision_counts_its_positives_and_negatives():
    labels = np.array([0] * 12 + [1] * 5)
    basis = decision_basis(labels, "classification")
    assert basis["cases"] == 17 and (basis["positives"], basis["negatives"]) == (5, 12)
    assert basis["note"] == (
        "only 5 positive case(s): one case moves the figure it was chosen by by 0.20; read it as "
        "coarse"
    )


def test_enough_cases_of_each_class_need_no_note():
    labels = np.array([0, 1] * FEW_CASES)
    assert decision_basis(labels, "classification")["note"] is None
    assert decision_basis(torch.as_tensor(labels), "classification")["positives"] == FEW_CASES


def test_graded_labels_name_the_rarest_class_and_a_missing_class_is_said_plainly():
    graded = decision_basis(np.array([0] * 30 + [1] * 25 + [2] * 3), "classification")
    assert graded["per_class"] == {"0": 30, "1": 25, "2": 3} and "rarest class" in graded["note"]
    none = decision_basis(np.zeros(30, int), "classification")
    assert none["positives"] == 0 and none["note"].startswith("no positive case")


def test_a_segmentation_decision_counts_the_cases_with_foreground():
    masks = np.zeros((6, 4, 8, 8), np.uint8)
    masks[:2, 1, 2:4, 2:4] = 1
    basis = decision_basis(masks, "segmentation")
    assert (basis["cases"], basis["with_foreground"]) == (6, 2)
    assert "2 case(s) with foreground" in basis["note"]
