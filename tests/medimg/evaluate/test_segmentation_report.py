import numpy as np
import pytest

from medimg.config.schema import EvaluateParams
from medimg.evaluate.segmentation_report import case_table, segmentation_report


def test_report_aggregates_cases_and_counts_undefined_distances():
    truth = [np.zeros((6, 8, 8), np.uint8) for _ in range(3)]
    truth[0][2:4, 2:6, 2:6] = 1
    truth[1][1:5, 1:5, 1:5] = 1
    predicted = [t.copy() for t in truth]
    predicted[1][1:5, 1:3, 1:5] = 0  # half found
    predicted[2][3, 3, 3] = 1  # a false alarm on an empty reference
    cases = case_table(predicted, truth, [(2.0, 1.0, 1.0)] * 3, classes=2)
    cases["patient_key"] = ["p1", "p2", "p3"]
    cases["manufacturer"] = ["A", "A", "B"]
    report = segmentation_report(
        cases,
        ["background", "nodule"],
        ["manufacturer"],
        EvaluateParams(bootstrap={"resamples": 200, "seed": 0}),
    )
    block = report["classes"]["nodule"]
    assert list(cases["dice"]) == pytest.approx([1.0, 2 * 32 / (32 + 64), 0.0])
    assert block["metrics"]["dice_mean"] == pytest.approx(np.mean(cases["dice"]))
    assert block["undefined"]["hd95_mm"] == 1 and block["undefined"]["recall"] == 1
    assert (
        block["ci95"]["dice_mean"]["low"]
        <= block["metrics"]["dice_mean"]
        <= block["ci95"]["dice_mean"]["high"]
    )
    assert block["subgroups"]["manufacturer"]["B"]["n"] == 1


def test_photos_are_measured_and_named_in_pixels():
    truth = [np.zeros((20, 20), np.uint8) for _ in range(2)]
    truth[0][5:15, 5:15] = 1
    truth[1][2:8, 2:8] = 1
    predicted = [t.copy() for t in truth]
    predicted[0][5:15, 15:17] = 1  # two columns too wide: 20 pixels more, 2 pixels away
    # a photo's cached spacing says nothing physical: its distances stay in pixels
    cases = case_table(predicted, truth, [(0.3, 0.3)] * 2, classes=2, photos=True)
    assert {"hd95_px", "assd_px", "area_difference_px"} <= set(cases.columns)
    assert not {"hd95_mm", "assd_mm", "volume_difference_ml"} & set(cases.columns)
    assert cases["hd95_px"].max() == pytest.approx(2.0)
    assert abs(cases["area_difference_px"][0]) == pytest.approx(20.0)
    cases["patient_key"] = ["p1", "p2"]
    report = segmentation_report(
        cases, ["background", "lesion"], [], EvaluateParams(bootstrap={"resamples": 100, "seed": 0})
    )
    metrics = report["classes"]["lesion"]["metrics"]
    assert "hd95_px_median" in metrics and "hd95_mm_median" not in metrics
