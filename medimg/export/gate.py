"""Whether an exported variant may be deployed: each variant gets its own operating point, chosen on
val by the evaluate step's rule, and must keep both the key metric and that operating point.

An INT8 variant can keep its AUC while its scores shift, so that at fp32's threshold specificity
falls by 0.1: the validated operating point is then not the deployed one. Choosing each variant's
threshold on val and gating on sensitivity and specificity at it catches that. The decision is made
on val; the test split only reports.

A point estimate of that change cannot carry the verdict: on 30 positives one case is 0.033. The
gate reads the paired bootstrap interval of the change (the same patients resampled for the
variant and fp32), and passes a variant only when the whole interval lies within
``max_operating_drop``; few cases give a wide interval, and the verdict then says so.
"""

from __future__ import annotations

import numpy as np

from medimg.config.schema import EvaluateParams
from medimg.metrics.classification import choose_threshold, rates_at
from medimg.metrics.intervals import bootstrap_intervals
from medimg.metrics.probabilities import softmax

OPERATING_POINT = ("sensitivity", "specificity")
HD95 = "hd95_voxels"  # a segmentation's median HD95 on the model's grid


def variant_threshold(
    task: str,
    classes: int,
    targets: np.ndarray,
    logits: np.ndarray,
    rule: EvaluateParams,
    temperature: float = 1.0,
) -> float | None:
    """The positive-class threshold for a binary classifier's ``logits`` on val, by the evaluate
    step's rule, on the calibrated scores softmax(logits, temperature) that predict reports; None
    where a threshold means nothing (graded classes, segmentation)."""
    if task != "classification" or classes != 2:
        return None
    scores = softmax(logits, temperature)[:, 1]
    return float(choose_threshold(rule.threshold, targets, scores, rule.target_sensitivity))


def operating_changes(
    labels: np.ndarray,
    patients: np.ndarray,
    reference: tuple[np.ndarray, float],
    variant: tuple[np.ndarray, float],
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """The change of sensitivity and specificity from ``reference`` to ``variant`` (each a pair of
    positive-class scores and its threshold) on the same cases, with its paired 95% bootstrap
    interval over patients and the cases each rate rests on."""
    labels = np.asarray(labels).astype(int)

    def change(idx: np.ndarray) -> dict:
        before = rates_at(labels[idx], reference[0][idx], reference[1])
        after = rates_at(labels[idx], variant[0][idx], variant[1])
        return {
            k: None if after[k] is None or before[k] is None else after[k] - before[k]
            for k in OPERATING_POINT
        }

    point = change(np.arange(len(labels)))
    ci = bootstrap_intervals(change, patients, resamples, seed)
    cases = {"sensitivity": int((labels == 1).sum()), "specificity": int((labels == 0).sum())}
    return {k: {"change": point[k], "ci95": ci.get(k), "cases": cases[k]} for k in OPERATING_POINT}


def gate_variant(
    key: str,
    figures: dict,
    reference: dict,
    max_metric_drop: float,
    max_operating_drop: float,
    max_hd95_increase: float = 1.0,
    operating: dict | None = None,
) -> list[str]:
    """Why ``figures`` (a variant on val, at its own threshold) may not be deployed beside
    ``reference`` (fp32 on val): an empty list means deployable. ``operating``
    (:func:`operating_changes`): the operating point may not move either way by more than
    ``max_operating_drop`` anywhere in the 95% interval of its change: the validated point must be
    the deployed one. A segmentation's median HD95 may not grow by more than
    ``max_hd95_increase`` voxels: boundary errors that barely move Dice."""
    reasons = []
    worse = (figures.get(HD95) or 0.0) - (reference.get(HD95) or 0.0)
    if reference.get(HD95) is not None and figures.get(HD95) is None:
        reasons.append(f"{HD95} is undefined on val (fp32: {reference[HD95]:.2f})")
    elif reference.get(HD95) is not None and worse > max_hd95_increase:
        reasons.append(
            f"{HD95} {figures[HD95]:.2f} against {reference[HD95]:.2f} "
            f"(grew {worse:.2f} > {max_hd95_increase})"
        )
    value, base = figures.get(key), reference.get(key)
    if value is None and base is not None:
        reasons.append(f"{key} is undefined on val")
    elif value is not None and base is not None and base - value > max_metric_drop:
        reasons.append(
            f"{key} {value:.3f} against {base:.3f} (drop {base - value:.3f} > {max_metric_drop})"
        )
    for name, moved in (operating or {}).items():
        ci = moved["ci95"]
        if ci is None:
            reasons.append(f"{name} has no interval: no case of its class among {moved['cases']}")
        elif ci["low"] < -max_operating_drop or ci["high"] > max_operating_drop:
            reasons.append(
                f"{name} moved {moved['change']:+.3f} at its own threshold, 95% CI "
                f"{ci['low']:+.3f} to {ci['high']:+.3f} on {moved['cases']} cases: not within "
                f"±{max_operating_drop}"
            )
    return reasons


def changes(figures: dict, reference: dict) -> dict:
    """Each figure's change from the reference (None where either is undefined)."""
    return {
        k: (v - reference[k] if v is not None and reference.get(k) is not None else None)
        for k, v in figures.items()
    }


def gate_headline(quality: dict, latency: dict) -> dict:
    """What `dvc metrics show` lists for the export (artifacts/export_metrics.json): how many
    variants passed the gate, the fastest of those at batch 1, and fp32 and torch beside it; the
    reasons and every figure stay in export_report.json."""
    row = latency["batch1"]
    timed = [n for n, q in quality.items() if q["deployable"] and n in row]
    fastest = min(timed, key=row.get) if timed else None
    return {
        "variants": len(quality),
        "deployable": sum(q["deployable"] for q in quality.values()),
        "fastest": fastest,
        "fastest_ms": row[fastest] if fastest else None,
        "fp32_ms": row.get("ort_fp32"),
        "torch_ms": row.get("torch_eager"),
    }
