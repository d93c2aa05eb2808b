"""The scores a classifier's decisions are made on, from the model that is deployed.

One model: its temperature is fitted on val and the threshold chosen there, on its calibrated
scores. A k-fold ensemble: each fold's temperature is fitted on that fold's own validation cases
(the only cases it did not train on) and travels inside the ensemble; the threshold is then chosen
on the ensemble's own calibrated answers on cases none of its members trained on, the val split
held out of every fold (split.decision_cases: val). Pooled out-of-fold scores mix five models on
five scales and are not what the ensemble outputs: averaging pulls scores to the middle, so a cut
chosen there lands elsewhere on the ensemble's scale (docs/evaluate.md: the simulation). Where no
val split was held out (decision_cases: out_of_fold) the decisions fall back to the pooled
out-of-fold scores, each fold's scaled by its own temperature, and the reports say so.
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
    temperature_labels: np.ndarray  # the labels the temperatures were fitted on
    members_on_evaluated: list[dict] = field(default_factory=list)  # each fold alone
    out_of_fold: dict | None = None  # per-fold and pooled out-of-fold figures (k-fold)


def scaled(part: dict, temperature: float) -> dict:
    """``part`` with its probabilities replaced by softmax(log p / temperature)."""
    return {**part, "probs": softmax(log_probabilities(part["probs"]), temperature)}


def calibrated_average(members: list[dict], temperatures: list[float]) -> dict:
    """The fold ensemble's answer from its members' answers on the same items: the mean of each
    member's probabilities at its own temperature (FoldEnsemble.forward, in numpy)."""
    probs = np.mean([scaled(m, t)["probs"] for m, t in zip(members, temperatures)], axis=0)
    return {**members[0], "probs": probs}


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
    return Decisions(
        decision=scaled(val, temperature),
        evaluated=scaled(evaluated, temperature),
        raw=evaluated["probs"],
        decided_on="val",
        temperatures=[temperature],
        temperature_labels=val["labels"],
    )


def ensemble_decisions(
    model: FoldEnsemble, rows, params: Params, paths: ProjectPaths, predict: Predict, device
) -> Decisions:
    """Fits each member's temperature on its own fold, sets them in ``model`` and scores the
    decision cases and the evaluated split as the calibrated ensemble answers."""
    folds = params.split.folds
    parts = [
        predict(
            member, fold_rows(paths.index, paths.splits, folds, k, "val"), params, paths, device
        )
        for k, member in enumerate(model.members)
    ]
    temperatures = [fitted_temperature(p, params.evaluate.calibrate) for p in parts]
    model.set_temperatures(temperatures)
    on_evaluated = [predict(m, rows, params, paths, device) for m in model.members]
    if params.holds_out_val():
        val_rows = read_split(paths.index, "val")
        members_on_val = [predict(m, val_rows, params, paths, device) for m in model.members]
        decision = calibrated_average(members_on_val, temperatures)
        decided_on = (
            f"val ({len(val_rows)} cases held out of all {folds} folds), "
            "scored by the deployed ensemble"
        )
    else:
        decision = pooled([scaled(p, t) for p, t in zip(parts, temperatures)])
        decided_on = (
            f"out-of-fold predictions of {folds} folds, each fold's at its own temperature "
            "(split.decision_cases: out_of_fold; not the ensemble's own scores)"
        )
    return Decisions(
        decision=decision,
        evaluated=calibrated_average(on_evaluated, temperatures),
        raw=calibrated_average(on_evaluated, [1.0] * len(temperatures))["probs"],
        decided_on=decided_on,
        temperatures=temperatures,
        temperature_labels=np.concatenate([p["labels"] for p in parts]),
        members_on_evaluated=on_evaluated,
        out_of_fold=out_of_fold_figures(parts, temperatures),
    )
