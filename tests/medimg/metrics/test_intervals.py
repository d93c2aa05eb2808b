"""Bootstrap over patients and DeLong's AUC interval."""

import numpy as np
import pytest
from scipy.stats import norm

from medimg.metrics.classification import rank_auc
from medimg.metrics.intervals import (
    bootstrap_intervals,
    delong_interval,
    patient_resamples,
)


def test_delong_variance_matches_the_direct_placement_formula():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(30), np.zeros(40)].astype(int)
    scores = np.r_[rng.normal(1, 1, 30), rng.normal(0, 1, 40)].round(1)  # with ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    variance = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    got = delong_interval(labels, scores)
    assert got["auc"] == pytest.approx(psi.mean(), abs=1e-12)
    assert got["variance"] == pytest.approx(variance, abs=1e-12)
    assert got["low"] < got["auc"] < got["high"]


def test_resamples_keep_every_item_of_a_drawn_patient_together():
    patients = np.array(["a", "a", "b", "c", "c", "c"])
    for indices in patient_resamples(patients, 20, seed=1):
        drawn = patients[indices]
        for p in set(drawn):
            # a patient drawn k times contributes k × all its items
            assert (drawn == p).sum() % (patients == p).sum() == 0


def test_bootstrap_auc_interval_covers_the_true_auc_in_90_to_99_percent_of_trials():
    rng = np.random.default_rng(7)
    separation = 1.0
    true_auc = float(norm.cdf(separation / np.sqrt(2)))  # binormal, equal variances
    trials, covered = 200, 0
    for trial in range(trials):
        labels = np.r_[np.ones(60), np.zeros(60)].astype(int)
        scores = np.r_[rng.normal(separation, 1, 60), rng.normal(0, 1, 60)]
        patients = np.arange(len(labels))
        ci = bootstrap_intervals(
            lambda idx: {"auc": rank_auc(labels[idx], scores[idx])}, patients, 300, trial
        )
        covered += ci["auc"]["low"] <= true_auc <= ci["auc"]["high"]
    assert 0.90 <= covered / trials <= 0.99, covered / trials
