"""decide(): margin on the key metric, tolerance on the others, direction-aware, no champion, undefined figures."""

import pytest

from medimg.retrain.champion import decide

CHAMPION = {"auc": 0.90, "sensitivity": 0.80, "specificity": 0.85, "brier": 0.10}


def test_without_a_champion_the_challenger_is_promoted():
    assert decide("auc", CHAMPION, None, 0.01, 0.02)["promote"]


@pytest.mark.parametrize(
    "auc, promote", [(0.915, True), (0.91, True), (0.905, False), (0.85, False)]
)
def test_the_key_metric_must_win_by_the_margin(auc, promote):
    result = decide("auc", {**CHAMPION, "auc": auc}, CHAMPION, margin=0.01, tolerance=0.02)
    assert result["promote"] is promote
    assert result["gain"] == pytest.approx(auc - 0.90)


def test_a_better_key_metric_does_not_excuse_a_clinical_metric_worse_beyond_tolerance():
    challenger = {**CHAMPION, "auc": 0.95, "sensitivity": 0.70}
    result = decide("auc", challenger, CHAMPION, 0.01, 0.02)
    assert not result["promote"] and set(result["worse"]) == {"sensitivity"}
    assert "sensitivity" in result["reason"]
    assert decide("auc", {**challenger, "sensitivity": 0.79}, CHAMPION, 0.01, 0.02)[
        "promote"
    ]  # within 0.02


def test_lower_is_better_metrics_count_a_rise_as_worse():
    assert not decide("auc", {**CHAMPION, "auc": 0.95, "brier": 0.15}, CHAMPION, 0.01, 0.02)[
        "promote"
    ]
    assert decide("auc", {**CHAMPION, "auc": 0.95, "brier": 0.05}, CHAMPION, 0.01, 0.02)["promote"]


def test_an_undefined_key_metric_keeps_the_champion():
    result = decide("auc", {**CHAMPION, "auc": None}, CHAMPION, 0.0, 1.0)
    assert not result["promote"] and "undefined" in result["reason"]
