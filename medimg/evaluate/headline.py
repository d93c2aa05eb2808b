"""The few figures `dvc metrics show` lists (reports/metrics.json), taken from a full report.

Everything else is in evaluation.json and the MLflow run; this keeps `dvc metrics show` and
`dvc exp show` readable.
"""

from __future__ import annotations

from medimg.metrics.classification import CLINICAL_METRICS

# by kind of model; each key with an interval (True) gets _low/_high too
HEADLINE = {
    "binary": (("auc", True), ("sensitivity", False), ("specificity", False), ("ece", False)),
    "graded": (
        ("quadratic_kappa", True),
        ("accuracy", False),
        ("macro_auc", False),
        ("ece", False),
    ),
    # a photo's distances are in pixels (hd95_px), a volume's in mm
    "segmentation": (
        ("dice_mean", True),
        ("dice_present_mean", False),
        ("hd95_mm_median", False),
        ("hd95_px_median", False),
    ),
}


def classification_figures(report: dict) -> dict:
    """A classification report's scalar figures, flat: value, and the 95% interval as _low/_high,
    with the operating point and the calibration's temperature (what the evaluate step logs)."""
    out: dict = {"n": report["n"]}
    if "operating_point" in report:
        out.update(
            threshold=report["operating_point"]["threshold"],
            threshold_rule=report["operating_point"]["rule"],
        )
    if "calibration" in report:
        out["temperature"] = report["calibration"]["temperature"]
        out["ece_uncalibrated"] = report["calibration"]["metrics"]["ece_before"]
    for name in CLINICAL_METRICS:
        if name not in report["metrics"]:
            continue
        out[name] = report["metrics"][name]
        if name in report["ci95"]:
            out[f"{name}_low"], out[f"{name}_high"] = (
                report["ci95"][name]["low"],
                report["ci95"][name]["high"],
            )
    return out


SHORT = {"sensitivity": "sens", "specificity": "spec"}


def promise_figures(report: dict) -> dict:
    """reports/promises.json, which `dvc metrics show` lists beside metrics.json (one table row
    each must fit a terminal): per rate the promised value, the interval a set of the evaluated
    split's size should land in and the cases it rests on; whether the evaluated split broke a
    promise (its figures are in metrics.json) and whether its scores looked shifted. Empty where
    there is no operating point."""
    op = report.get("operating_point", {})
    out: dict = {}
    for name, promise in op.get("promised", {}).items():
        if promise.get("value") is None:
            continue
        short = SHORT[name]
        out[short] = promise["value"]
        out[f"{short}_lo"] = promise["expected"]["low"]
        out[f"{short}_hi"] = promise["expected"]["high"]
        out[f"{short}_n"] = promise["cases"]
    if out:
        out["broken"] = any(k["broken"] for k in op["kept"].values() if k["broken"] is not None)
        out["shifted"] = report.get("score_shift", {}).get("shifted")
    return out


def segmentation_figures(report: dict) -> tuple[dict, tuple[str, ...]]:
    """A segmentation report's scalar figures, flat (one prefix per class when there are several:
    "liver_", "tumour_"), and those prefixes."""
    figures: dict = {"n": report["cases"]}
    several = len(report["classes"]) > 1
    for name, block in report["classes"].items():
        prefix = f"{name}_" if several else ""
        for key, value in block["metrics"].items():
            figures[prefix + key] = value
            if key in block["ci95"]:
                figures[f"{prefix}{key}_low"] = block["ci95"][key]["low"]
                figures[f"{prefix}{key}_high"] = block["ci95"][key]["high"]
    prefixes = tuple(f"{n}_" for n in report["classes"]) if several else ("",)
    return figures, prefixes


def dvc_headline(figures: dict, kind: str, prefixes: tuple[str, ...] = ("",)) -> dict:
    """The few of ``figures`` (flat scalars) that reports/metrics.json keeps."""
    out = {"n": figures["n"]}
    for prefix in prefixes:
        for name, interval in HEADLINE[kind]:
            key = prefix + name
            if key in figures:
                out[key] = figures[key]
                if interval and f"{key}_low" in figures:
                    out[f"{key}_low"] = figures[f"{key}_low"]
                    out[f"{key}_high"] = figures[f"{key}_high"]
    if "threshold" in figures:  # the operating point; its temperature is in evaluation.json
        out["threshold"] = figures["threshold"]
    return out
