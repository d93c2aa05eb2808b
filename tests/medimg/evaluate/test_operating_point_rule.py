"""The rule that sets the deployed ensemble's threshold, on generated data with a known truth
(bench/operating_point_simulation.py): five members on their own scales, as networks stopped on
their own epochs end, averaged as medimg deploys them."""

import numpy as np
import pytest

from bench.operating_point_simulation import one_run
from medimg.metrics.classification import matched_threshold


def worst_gap(promised: dict, realised: dict) -> float:
    return max(abs(realised[k] - promised[k]["value"]) for k in realised)


def test_a_pooled_uncalibrated_cut_misses_on_the_ensemble_and_the_carried_cut_does_not():
    run = one_run(
        600, 5, 0.15, seed=0, test_n=5000, drift=5.0, methods=("pooled_oof", "quantile_match")
    )
    old, new = worst_gap(*run["pooled_oof"]), worst_gap(*run["quantile_match"])
    assert (
        old > 0.3
    )  # the promise made on pooled out-of-fold scores is far from what 5000 new cases give
    assert new < 0.1


def test_the_carried_threshold_flags_the_same_share_of_cases():
    rng = np.random.default_rng(0)
    member_scale = rng.random(1000)
    ensemble_scale = 0.3 + 0.2 * member_scale**2  # same ranking, squeezed to the middle
    threshold = 0.7
    carried = matched_threshold(member_scale, threshold, ensemble_scale)
    assert np.mean(ensemble_scale >= carried) == pytest.approx(
        np.mean(member_scale >= threshold), abs=2e-3
    )
    assert 0.3 < carried < 0.5
