"""The scores a classifier's decisions are made on, from the model that is deployed.

One model: its temperature is fitted on val and the threshold chosen there, on its calibrated
scores. A k-fold ensemble: each fold's temperature is fitted on that fold's own validation cases
(the only cases it did not train on) and travels inside the ensemble. The threshold is chosen on
the pooled out-of-fold scores, each fold's at its own temperature, which is also where the promise
of its sensitivity and specificity comes from. The ensemble's scores are not those: averaging pulls
them to the middle, so the cut is carried over by quantile, to the threshold that flags the same
share of the non-test cases on the ensemble's own scores. A simulation with a known truth chose
this over a cut used as it is and over a val split held out of the folds (bench/
operating_point_simulation.py, docs/evaluate.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.metrics.calibration import fit_temperature, log_probabilities
from medimg.metrics.classification import auc_score
from medimg.metrics.probabilities import softmax
from medimg.models.ensemble import FoldEnsemble
from medimg.train.datasets import fold_rows, read_split


@dataclass
class Decisions:
    decision: dict  # {labels, probs, patients}: the cases the threshold is chosen on, calibrated
    evaluated: dict  # the evaluated split, calibrated as deployed
    raw: np.ndarray  # the evaluated split's probabilities before any temperature
    decided_on: str  # what ``decision`` is, as the reports say it
    temperatures: list[float]  # one per member (one model: one)
    # the ensemble's calibrated positive-class scores on every non-test case (k-fold): the
    # scale the chosen cut is carried to by quantile; None for one model, whose scale it is
    ensemble_on_pool: np.ndarray | None = None
    members_on_evaluated: list[dict] = field(default_factory=list)  # each fold alone
    # per model, calibrated: its answers on its own decision cases (where its temperature was
    # fitted) and on the evaluated split; the score-shift check compares each model with itself
    decision_parts: list[dict] = field(default_factory=list)
    evaluated_parts: list[dict] = field(default_factory=list)
    out_of_fold: dict | None = None  # per-fold and pooled out-of-fold figures (k-fold)


def scaled(part: dict, temperature: float) -> dict:
    """``part`` with its probabilities replaced by softmax(log p / temperature)."""
    return {**part, "probs": softmax(log_probabilities(part["probs"]), temperature)}


def averaged(members: list[dict]) -> dict:
    """The fold ensemble's answer from its members' answers on the same items, each already at
    its own temperature (FoldEnsemble.forward, in numpy)."""
    return {**members[0], "probs": np.mean([m["probs"] for m in members], axis=0)}


def pooled(parts: list[dict]) -> dict:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def fitted_temperature(part: dict, enabled: bool) -> float:
    if not enabled or len(np.unique(part["labels"])) < 2:
        return 1.0
    return fit_temperature(log_probabilities(part["probs"]), part["labels"])


def _auc(part: dict) -> float | None:
    if part["probs"].shape[1] != 2 or len(np.unique(part["labels"])) < 2:
        return None
    return auc_score(part["labels"], part["probs"])


def out_of_fold_figures(parts: list[dict], temperatures: list[float]) -> dict:
    """Each fold's AUC on its own validation cases beside the pooled AUC of all of them, raw and
    with each fold's temperature: the pooled figure mixes scales and may sit below every fold's."""
    return {
        "per_fold": [{"auc": _auc(p), "cases": int(len(p["labels"]))} for p in parts],
        "pooled_auc": _auc(pooled(parts)),
        "pooled_auc_calibrated": _auc(pooled([scaled(p, t) for p, t in zip(parts, temperatures)])),
        "weights": "each fold's final epoch (the fold it validates on chose nothing)",
    }


Predict = Callable[..., dict]


def single_model_decisions(
    model, rows, params: Params, paths: ProjectPaths, predict: Predict, device
) -> Decisions:
    val = predict(model, read_split(paths.index, "val"), params, paths, device)
    evaluated = predict(model, rows, params, paths, device)
    temperature = fitted_temperature(val, params.evaluate.calibrate)
    decision, calibrated = scaled(val, temperature), scaled(evaluated, temperature)
    return Decisions(
        decision=decision,
        evaluated=calibrated,
        raw=evaluated["probs"],
        decided_on="val",
        temperatures=[temperature],
        decision_parts=[decision],
        evaluated_parts=[calibrated],
    )


def ensemble_decisions(
    model: FoldEnsemble, rows, params: Params, paths: ProjectPaths, predict: Predict, device
) -> Decisions:
    """Fits each member's temperature on its own fold, sets them in ``model`` and scores the
    out-of-fold cases, the non-test pool and the evaluated split as the calibrated ensemble."""
    folds = params.split.folds
    parts = [
        predict(
            member, fold_rows(paths.index, paths.splits, folds, k, "val"), params, paths, device
        )
        for k, member in enumerate(model.members)
    ]
    temperatures = [fitted_temperature(p, params.evaluate.calibrate) for p in parts]
    model.set_temperatures(temperatures)

    def calibrated(split_rows) -> list[dict]:
        return [
            scaled(predict(m, split_rows, params, paths, device), t)
            for m, t in zip(model.members, temperatures)
        ]

    pool_rows = read_split(paths.index, "train")
    on_evaluated = [predict(m, rows, params, paths, device) for m in model.members]
    calibrated_evaluated = [scaled(m, t) for m, t in zip(on_evaluated, temperatures)]
    decision_parts = [scaled(p, t) for p, t in zip(parts, temperatures)]
    return Decisions(
        decision=pooled(decision_parts),
        ensemble_on_pool=averaged(calibrated(pool_rows))["probs"][:, -1],
        evaluated=averaged(calibrated_evaluated),
        raw=averaged(on_evaluated)["probs"],
        decided_on=(
            f"out-of-fold predictions of {folds} folds, each fold's at its own temperature; the "
            f"cut carried to the ensemble's scores by quantile over the {len(pool_rows)} "
            "non-test cases"
        ),
        temperatures=temperatures,
        members_on_evaluated=on_evaluated,
        decision_parts=decision_parts,
        evaluated_parts=calibrated_evaluated,
        out_of_fold=out_of_fold_figures(parts, temperatures),
    )
