"""The classification report: operating point chosen on validation, metrics with 95% intervals on
the evaluated split, and the same per subgroup. Pure functions over arrays."""

from __future__ import annotations

import numpy as np

from medimg.config.schema import EvaluateParams
from medimg.evaluate.promises import kept_promises, promised_rates
from medimg.metrics.calibration import calibration_errors
from medimg.metrics.classification import (
    BINARY_INTERVALS,
    binary_metrics,
    choose_threshold,
    matched_threshold,
    multiclass_metrics,
    rates_at,
)
from medimg.metrics.evidence import decision_basis
from medimg.metrics.intervals import bootstrap_intervals, delong_interval

MULTICLASS_INTERVALS = (
    "accuracy",
    "balanced_accuracy",
    "kappa",
    "quadratic_kappa",
    "macro_auc",
    "brier",
    "ece",
)


def _binary_block(labels, scores, patients, threshold: float, spec: EvaluateParams) -> dict:
    point = binary_metrics(labels, scores, threshold, spec.ece_bins)

    def statistic(idx: np.ndarray) -> dict:
        values = binary_metrics(labels[idx], scores[idx], threshold, spec.ece_bins)
        return {k: values[k] for k in BINARY_INTERVALS}

    return {
        "metrics": point,
        "ci95": bootstrap_intervals(
            statistic, patients, spec.bootstrap.resamples, spec.bootstrap.seed
        ),
        "auc_delong95": delong_interval(labels, scores),
    }


def _multiclass_block(labels, probs, patients, spec: EvaluateParams) -> dict:
    point = multiclass_metrics(labels, probs, spec.ece_bins)

    def statistic(idx: np.ndarray) -> dict:
        values = multiclass_metrics(labels[idx], probs[idx], spec.ece_bins)
        return {k: values[k] for k in MULTICLASS_INTERVALS}

    return {
        "metrics": point,
        "ci95": bootstrap_intervals(
            statistic, patients, spec.bootstrap.resamples, spec.bootstrap.seed
        ),
    }


def classification_report(
    val: dict,
    evaluated: dict,
    subgroups: dict[str, np.ndarray],
    spec: EvaluateParams,
    chosen_on: str = "val",
    carried_to: np.ndarray | None = None,
) -> dict:
    """``val`` and ``evaluated``: {'labels', 'probs' (N, K), 'patients'}. Binary tasks get a threshold
    chosen on ``val`` by ``spec.threshold`` and applied unchanged; graded tasks use the arg-max class.
    ``chosen_on`` says what ``val`` is (the val split, or out-of-fold predictions). With
    ``carried_to`` (the deployed model's scores on the cases ``val`` comes from) the cut is carried
    to that scale by quantile, and the carried threshold is the one applied and deployed."""
    labels, probs, patients = evaluated["labels"], evaluated["probs"], evaluated["patients"]
    report: dict = {"classes": int(probs.shape[1]), "n": int(len(labels))}
    if probs.shape[1] == 2:
        chosen = choose_threshold(
            spec.threshold, val["labels"], val["probs"][:, 1], spec.target_sensitivity
        )
        threshold = (
            chosen
            if carried_to is None
            else matched_threshold(val["probs"][:, 1], chosen, carried_to)
        )
        report["operating_point"] = {
            "rule": "youden (max sensitivity + specificity - 1)"
            if spec.threshold == "youden"
            else f"highest threshold reaching sensitivity {spec.target_sensitivity:g}",
            "chosen_on": chosen_on,
            "threshold": threshold,
            "chosen_threshold": chosen,  # on the decision cases' scale
            "val": binary_metrics(val["labels"], val["probs"][:, 1], chosen, spec.ece_bins),
            "rests_on": decision_basis(val["labels"], "classification"),
        }

        def block(mask: np.ndarray) -> dict:
            return _binary_block(labels[mask], probs[mask, 1], patients[mask], threshold, spec)
    else:

        def block(mask: np.ndarray) -> dict:
            return _multiclass_block(labels[mask], probs[mask], patients[mask], spec)

    report.update(block(np.ones(len(labels), bool)))
    report["subgroups"] = {
        column: {
            str(value): {"n": int((values == value).sum()), **block(values == value)}
            for value in sorted(set(values.tolist()), key=str)
        }
        for column, values in subgroups.items()
    }
    return report


def promises(decision: dict, evaluated: dict, operating_point: dict, spec: EvaluateParams) -> dict:
    """The operating point's promise (sensitivity and specificity on the decision cases at the cut
    chosen there, with their intervals and counts) and whether the evaluated split kept it at the
    deployed threshold."""
    labels, threshold = evaluated["labels"], operating_point["threshold"]
    promised = promised_rates(
        decision["labels"],
        decision["probs"][:, 1],
        decision["patients"],
        operating_point["chosen_threshold"],
        {"sensitivity": int((labels == 1).sum()), "specificity": int((labels == 0).sum())},
        spec.bootstrap.resamples,
        spec.bootstrap.seed,
    )
    realised = rates_at(labels, evaluated["probs"][:, 1], threshold)
    return {"promised": promised, "kept": kept_promises(promised, realised)}


def calibration_report(
    labels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    patients: np.ndarray,
    temperatures: list[float],
    spec: EvaluateParams,
) -> dict:
    """ECE and Brier of the probabilities ``before`` and ``after`` temperature scaling on the
    evaluated split, and their change, each with a 95% interval. The change's interval comes from
    the same patient resamples for both, so it says by how much calibration moved them. A fold
    ensemble's temperatures are its members', each fitted on its own fold's validation cases; the
    ensemble's output then needs none (``temperature`` 1). ``temperatures``: one per fold, or the
    one model's."""

    def statistic(idx: np.ndarray) -> dict:
        old = calibration_errors(labels[idx], before[idx], spec.ece_bins)
        new = calibration_errors(labels[idx], after[idx], spec.ece_bins)
        out = {}
        for name in ("ece", "brier"):
            out[f"{name}_before"], out[f"{name}_after"] = old[name], new[name]
            defined = old[name] is not None and new[name] is not None
            out[f"{name}_change"] = new[name] - old[name] if defined else None
        return out

    members = len(temperatures) > 1
    return {
        "method": (
            "temperature scaling of each fold's logits inside the ensemble, each fitted by NLL on "
            "its own fold's validation cases"
            if members
            else "temperature scaling (one scalar dividing the logits, fitted on val by NLL)"
        ),
        "fitted_on": "each fold's own validation cases" if members else "val",
        "temperature": 1.0 if members else temperatures[0],
        "member_temperatures": temperatures if members else None,
        "metrics": statistic(np.arange(len(labels))),
        "ci95": bootstrap_intervals(
            statistic, patients, spec.bootstrap.resamples, spec.bootstrap.seed
        ),
    }
