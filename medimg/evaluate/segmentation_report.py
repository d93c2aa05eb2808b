"""The segmentation report: per-case metrics in mm (pixels for photos), and their mean and median over cases with
95% intervals (bootstrap over patients), overall and per subgroup. Pure functions over arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medimg.config.schema import EvaluateParams
from medimg.metrics.intervals import bootstrap_intervals
from medimg.metrics.segmentation import case_metrics

CASE_METRICS = ("dice", "iou", "precision", "recall", "hd95_mm", "assd_mm", "volume_difference_ml")
# photos carry no physical spacing: their distances and areas are in pixels, and named so
IN_PIXELS = {
    "hd95_mm": "hd95_px",
    "assd_mm": "assd_px",
    "volume_difference_ml": "area_difference_px",
}
EMPTY_MASK_CONVENTION = (
    "A case with an empty reference and an empty prediction scores Dice, IoU, precision and "
    "recall 1 and distances 0. A case where exactly one is empty scores Dice and IoU 0; its "
    "surface distances, and its precision (nothing predicted) or recall (nothing to find), "
    "are undefined: left out of those aggregates and counted as 'undefined cases'."
)


def metric_names(photos: bool) -> tuple[str, ...]:
    """The per-case metrics as reports name them: in mm and mL, or for photos in pixels."""
    return tuple(IN_PIXELS.get(m, m) for m in CASE_METRICS) if photos else CASE_METRICS


def in_pixels(metrics: dict) -> dict:
    """case_metrics of a photo (spacing 1 per pixel) named in pixels; its 'mL' were pixels/1000."""
    out = {IN_PIXELS.get(k, k): v for k, v in metrics.items()}
    if out.get("area_difference_px") is not None:
        out["area_difference_px"] *= 1000.0
    return out


def case_table(
    predicted: list[np.ndarray],
    truth: list[np.ndarray],
    spacings: list,
    classes: int,
    photos: bool = False,
) -> pd.DataFrame:
    """One row per (case, foreground class) with every per-case metric (``photos``: distances and
    areas in pixels, named so)."""
    rows = []
    for case, (p, t, spacing) in enumerate(zip(predicted, truth, spacings)):
        for c in range(1, classes):
            metrics = case_metrics(p == c, t == c, (1.0,) * t.ndim if photos else tuple(spacing))
            rows.append(
                {
                    "case": case,
                    "class": c,
                    "reference_present": bool((t == c).any()),
                    **(in_pixels(metrics) if photos else metrics),
                }
            )
    return pd.DataFrame(rows)


def _aggregate(frame: pd.DataFrame, patients: np.ndarray, spec: EvaluateParams) -> dict:
    names = metric_names("hd95_px" in frame)
    values = {m: frame[m].to_numpy(dtype=float) for m in names}  # None → nan
    present = frame["reference_present"].to_numpy(dtype=bool)

    def statistic(idx: np.ndarray) -> dict:
        out = {}
        for m, v in values.items():
            picked = v[idx]
            picked = picked[~np.isnan(picked)]
            out[f"{m}_mean"] = float(picked.mean()) if len(picked) else None
            out[f"{m}_median"] = float(np.median(picked)) if len(picked) else None
        # the empty-empty 1s of cases without the structure flatter the mean; this figure has none
        with_structure = values["dice"][idx][present[idx]]
        out["dice_present_mean"] = float(with_structure.mean()) if len(with_structure) else None
        return out

    point = statistic(np.arange(len(frame)))
    return {
        "n": int(len(frame)),
        "n_present": int(present.sum()),
        "metrics": point,
        "undefined": {m: int(np.isnan(v).sum()) for m, v in values.items()},
        "ci95": bootstrap_intervals(
            statistic, patients, spec.bootstrap.resamples, spec.bootstrap.seed
        ),
    }


def segmentation_report(
    cases: pd.DataFrame, class_names: list[str], subgroups: list[str], spec: EvaluateParams
) -> dict:
    """``cases``: case_table rows joined with patient_key and the subgroup columns."""
    report: dict = {
        "task": "segmentation",
        "cases": int(cases["case"].nunique()),
        "empty_mask_convention": EMPTY_MASK_CONVENTION,
        "classes": {},
    }
    for c, part in cases.groupby("class"):
        name = class_names[int(c)]
        block = _aggregate(part, part["patient_key"].to_numpy(), spec)
        block["subgroups"] = {
            column: {
                str(value): _aggregate(group, group["patient_key"].to_numpy(), spec)
                for value, group in part.groupby(part[column].fillna("unknown").astype(str))
            }
            for column in subgroups
        }
        report["classes"][name] = block
    return report
