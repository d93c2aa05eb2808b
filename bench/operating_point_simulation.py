"""Which cases should the deployed fold ensemble's operating point be chosen on? A simulation with a
known truth, so the realised operating point can be measured on as many new patients as we like.

    .venv/bin/python bench/operating_point_simulation.py            # the table in docs/evaluate.md

The truth: two Gaussian classes in 20 dimensions (prevalence 0.4, Bayes AUC about 0.9). Each of
k = 5 folds fits a logistic regression on the other folds; like networks stopped at different
epochs, each member ends on its own scale and offset (its logits multiplied by a factor drawn from
0.5-3 and shifted by N(0, 0.7)). The deployed model averages the members' probabilities. Every
method promises the sensitivity and specificity of its threshold on the cases it chose it on; the
realised figures come from 20,000 new cases scored by the deployed model. Methods:

- ``pooled_oof``: what medimg did: one temperature and the Youden cut on the pooled out-of-fold
  scores, applied to the average of the raw members;
- ``pooled_oof_member_t``: each member's temperature on its own fold, the cut on the pooled
  calibrated out-of-fold scores, applied to the average of calibrated members;
- ``quantile_match``: as the last, but the cut moved to the same quantile of the ensemble's scores
  on the pooled cases (which its members trained on);
- ``held_out_val``: member temperatures as above; ``val_fraction`` of the patients held out of
  every fold, and the cut chosen on the deployed ensemble's own answers there (what medimg does).

Printed per method and data size: the mean absolute gap between promised and realised sensitivity
and specificity, and how often the realised figures fell inside the promised interval (the
estimate's bootstrap interval widened by the new set's binomial spread, as the reports state it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medimg.evaluate.decisions import averaged, fitted_temperature, pooled, scaled  # noqa: E402
from medimg.evaluate.promises import promised_rates  # noqa: E402
from medimg.metrics.classification import choose_threshold, rates_at  # noqa: E402

DIMENSIONS, PREVALENCE, SEPARATION = 20, 0.4, 0.4
METHODS = ("pooled_oof", "pooled_oof_member_t", "quantile_match", "held_out_val")


def cases(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = (rng.random(n) < PREVALENCE).astype(int)
    features = rng.normal(size=(n, DIMENSIONS)) + SEPARATION * labels[:, None]
    return features, labels


def fit_member(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, drift: float = 1.0, steps: int = 300
):
    """A logistic regression by gradient descent, then a member's own scale and offset: the logits
    of a network that stopped on its own epoch (``drift`` multiplies the offset's spread)."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= 0.5 * (x.T @ (p - y) / len(y) + 1e-3 * w)
        b -= 0.5 * float(np.mean(p - y))
    scale, offset = rng.uniform(0.5, 3.0), rng.normal(0, 0.7 * drift)
    return lambda z: scale * (z @ w + b) + offset


def as_part(member, x: np.ndarray, y: np.ndarray) -> dict:
    logit = member(x)
    probs = np.stack([1 / (1 + np.exp(logit)), 1 / (1 + np.exp(-logit))], axis=1)
    return {"labels": y, "probs": probs, "patients": np.arange(len(y))}


def calibrated_average(members: list[dict], temperatures: list[float]) -> dict:
    return averaged([scaled(m, t) for m, t in zip(members, temperatures)])


def one_run(
    n: int,
    folds: int,
    val_fraction: float,
    seed: int,
    test_n: int = 20000,
    drift: float = 1.0,
    methods: tuple[str, ...] = METHODS,
) -> dict:
    """Per method: (promised rates with intervals, realised rates) for one generated data set."""
    rng = np.random.default_rng(seed)
    x, y = cases(n, rng)
    test_x, test_y = cases(test_n, rng)
    counts = {"sensitivity": int(test_y.sum()), "specificity": int((1 - test_y).sum())}
    order = rng.permutation(n)
    held = order[: int(round(val_fraction * n))]
    out = {}
    for method in methods:
        pool = order[len(held) :] if method == "held_out_val" else order
        fold_of = np.arange(len(pool)) % folds
        members, parts = [], []
        for k in range(folds):
            train, val = pool[fold_of != k], pool[fold_of == k]
            members.append(fit_member(x[train], y[train], rng, drift))
            parts.append(as_part(members[-1], x[val], y[val]))
        on_test = [as_part(m, test_x, test_y) for m in members]
        if method == "pooled_oof":
            oof = pooled(parts)
            t = fitted_temperature(oof, True)
            decision = scaled(oof, t)
            deployed = scaled(averaged(on_test), t)
        else:
            temps = [fitted_temperature(p, True) for p in parts]
            deployed = calibrated_average(on_test, temps)
            if method == "held_out_val":
                decision = calibrated_average(
                    [as_part(m, x[held], y[held]) for m in members], temps
                )
            else:
                decision = pooled([scaled(p, t) for p, t in zip(parts, temps)])
        scores = decision["probs"][:, 1]
        threshold = choose_threshold("youden", decision["labels"], scores, 0.9)
        promised = promised_rates(
            decision["labels"], scores, decision["patients"], threshold, counts, 300
        )
        if method == "quantile_match":
            on_pool = calibrated_average([as_part(m, x[pool], y[pool]) for m in members], temps)
            rank = float(np.mean(scores < threshold))
            threshold = float(np.quantile(on_pool["probs"][:, 1], rank))
        out[method] = (promised, rates_at(test_y, deployed["probs"][:, 1], threshold))
    return out


def summary(runs: list[dict]) -> dict:
    table = {}
    for method in runs[0]:
        gaps, inside = (
            {"sensitivity": [], "specificity": []},
            {"sensitivity": [], "specificity": []},
        )
        for run in runs:
            promised, realised = run[method]
            for rate in gaps:
                gaps[rate].append(abs(realised[rate] - promised[rate]["value"]))
                e = promised[rate]["expected"]
                inside[rate].append(e["low"] <= realised[rate] <= e["high"])
        table[method] = {
            **{f"gap_{r}": round(float(np.mean(v)), 3) for r, v in gaps.items()},
            **{f"covered_{r}": round(float(np.mean(v)), 2) for r, v in inside.items()},
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[120, 600, 2400])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument(
        "--drift", type=float, default=1.0, help="spread of the members' offsets (x 0.7)"
    )
    args = parser.parse_args()
    result = {
        str(n): summary(
            [
                one_run(n, args.folds, args.val_fraction, seed, drift=args.drift)
                for seed in range(args.repeats)
            ]
        )
        for n in args.sizes
    }
    print(json.dumps({"args": vars(args), "by_size": result}, indent=2))


if __name__ == "__main__":
    main()
