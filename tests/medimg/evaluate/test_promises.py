"""What the operating point promises, whether a test set kept it, and the score-shift check."""

import numpy as np
import pytest

from medimg.evaluate.promises import kept_promises, promised_rates, score_shift


def scored(n: int, shift: float = 0.0, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    positive = 1 / (1 + np.exp(-(rng.normal(labels * 2.0 - 1.0, 1.0) + shift)))
    return {
        "labels": labels,
        "probs": np.stack([1 - positive, positive], axis=1),
        "patients": np.array([f"p{i}" for i in range(n)]),
    }


def test_the_promise_states_its_cases_and_widens_for_a_small_new_set():
    cases = scored(400)

    def promise(new_cases: int) -> dict:
        counts = {"sensitivity": new_cases, "specificity": new_cases}
        scores = cases["probs"][:, 1]
        return promised_rates(cases["labels"], scores, cases["patients"], 0.5, counts, 200)

    small, large = promise(10), promise(10000)
    for rate in ("sensitivity", "specificity"):
        assert small[rate]["cases"] == 200 and small[rate]["value"] == large[rate]["value"]
        ci, wide, narrow = small[rate]["ci95"], small[rate]["expected"], large[rate]["expected"]
        assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]
        assert narrow["high"] - narrow["low"] >= ci["high"] - ci["low"] - 0.02


def test_a_realised_figure_outside_the_expected_interval_is_flagged():
    promise = {"sensitivity": {"value": 0.9, "expected": {"low": 0.8, "high": 0.97}}}
    kept = kept_promises(promise, {"sensitivity": 0.69, "specificity": None})
    assert kept["sensitivity"]["broken"] and kept["sensitivity"]["gap"] == pytest.approx(-0.21)
    assert kept["specificity"]["broken"] is None
    assert not kept_promises(promise, {"sensitivity": 0.85})["sensitivity"]["broken"]


def test_scores_from_another_source_are_flagged_and_the_same_source_is_not():
    decision = [scored(300, seed=1), scored(300, seed=2)]
    same = [scored(300, seed=3), scored(300, seed=4)]
    other = [scored(300, shift=1.5, seed=3), scored(300, shift=1.5, seed=4)]
    assert score_shift(decision, same)["shifted"] is False
    flagged = score_shift(decision, other)
    assert flagged["shifted"] is True
    assert (
        flagged["per_class"]["negatives"]["evaluated_median"]
        > flagged["per_class"]["negatives"]["decision_median"]
    )
