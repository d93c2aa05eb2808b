"""What the operating point promises, whether the test split kept it, and whether the test scores
look like the cases the promise was made on. Pure functions over arrays.

The promise is made on the decision cases (scored by the deployed model; docs/evaluate.md): the
sensitivity and specificity at the chosen threshold, the 95% interval of that estimate (bootstrap
over patients), and the interval a new set of the evaluated split's size should land in. That
second interval adds the new set's own binomial spread, so a test set of 13 positives is not held
to the precision of the estimate alone. A realised figure outside it is flagged.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from medimg.metrics.classification import RATES, rates_at
from medimg.metrics.intervals import bootstrap_intervals

Z95 = 1.959964
# a two-sample test this unlikely under one distribution flags the test scores as shifted
SHIFT_P = 0.01


def _spread(rate: float, n: int) -> float:
    """The sd of a rate measured on ``n`` new cases (Agresti-Coull: a rate of 0 or 1 on few
    cases still spreads)."""
    p = (rate * n + 2) / (n + 4)
    return float(np.sqrt(p * (1 - p) / (n + 4)))


def promised_rates(
    labels: np.ndarray,
    scores: np.ndarray,
    patients: np.ndarray,
    threshold: float,
    new_counts: dict[str, int],
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Per rate: the value at ``threshold`` on the decision cases, its 95% interval (patients
    resampled), the cases it rests on, and ``expected`` — the 95% interval for a new set with
    ``new_counts`` cases of the class (sensitivity: positives; specificity: negatives)."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    point = rates_at(labels, scores, threshold)
    ci = bootstrap_intervals(
        lambda idx: rates_at(labels[idx], scores[idx], threshold), patients, resamples, seed
    )
    out = {}
    for name, cls in RATES.items():
        value, n = point[name], int((labels == cls).sum())
        if value is None:
            out[name] = {"value": None, "cases": 0, "ci95": None, "expected": None}
            continue
        interval = ci.get(name)
        # the estimate's own spread and the new set's, added in quadrature; a rate of 1 on 36
        # cases has no bootstrap spread but is no certainty, so the estimate's spread is at least
        # its Agresti-Coull one
        bootstrap_sd = (interval["high"] - interval["low"]) / (2 * Z95) if interval else 0.0
        estimate_sd = max(bootstrap_sd, _spread(value, n))
        new_n = new_counts.get(name, 0)
        sd = np.hypot(estimate_sd, _spread(value, new_n) if new_n else 0.0)
        out[name] = {
            "value": value,
            "cases": n,
            "ci95": interval,
            "expected": {
                "low": float(max(0.0, value - Z95 * sd)),
                "high": float(min(1.0, value + Z95 * sd)),
                "for_cases": new_n,
            },
        }
    return out


def kept_promises(promised: dict, realised: dict) -> dict:
    """Per rate: what was promised, what the evaluated split gave, the gap, and ``broken`` when the
    realised figure lies outside the interval expected for a set of its size."""
    out = {}
    for name in RATES:
        promise, value = promised.get(name, {}), realised.get(name)
        expected = promise.get("expected")
        if expected is None or value is None or promise.get("value") is None:
            out[name] = {"promised": promise.get("value"), "realised": value, "broken": None}
            continue
        out[name] = {
            "promised": promise["value"],
            "expected": expected,
            "realised": value,
            "gap": value - promise["value"],
            "broken": not expected["low"] <= value <= expected["high"],
        }
    return out


def score_shift(decided: list[dict], evaluated: list[dict]) -> dict:
    """Whether the evaluated split's scores come from another distribution than the decision
    cases', compared on one model's scale at a time: ``decided[k]`` and ``evaluated[k]`` are model
    k's calibrated answers on its decision cases (a fold's own validation cases) and on the
    evaluated split. Per class (a change of prevalence alone moves pooled scores) and per model a
    two-sample Kolmogorov-Smirnov test; the smallest p, times the number of tests (Bonferroni),
    is flagged below ``SHIFT_P``."""
    per_class, tests = {}, 0
    for name, cls in (("positives", 1), ("negatives", 0)):
        found = []
        for before, after in zip(decided, evaluated):
            a = before["probs"][before["labels"] == cls, -1]
            b = after["probs"][after["labels"] == cls, -1]
            if len(a) >= 2 and len(b) >= 2:
                found.append((stats.ks_2samp(a, b), np.median(a), np.median(b)))
        tests += len(found)
        per_class[name] = (
            None
            if not found
            else {
                "ks_statistic": float(max(f[0].statistic for f in found)),
                "p_value": float(min(f[0].pvalue for f in found)),
                "decision_median": float(np.median([f[1] for f in found])),
                "evaluated_median": float(np.median([f[2] for f in found])),
                "models": len(found),
            }
        )
    for block in per_class.values():
        if block is not None:
            block["p_adjusted"] = min(1.0, block["p_value"] * tests)
    tested = [c for c in per_class.values() if c is not None]
    return {
        "test": "two-sample Kolmogorov-Smirnov per class and per model on its own scale "
        f"(Bonferroni over {tests}), flagged below p = {SHIFT_P}",
        "per_class": per_class,
        "shifted": any(c["p_adjusted"] < SHIFT_P for c in tested) if tested else None,
    }
