"""reports/model_card.md, rendered from templates/: what the model is, what it was trained and tested on, how well it does
(with 95% intervals), at which operating point, for whom, and what it must not be used for."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.ingest.splits import split_protocol

NAMES = {
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "PPV (precision)",
    "npv": "NPV",
    "f1": "F1",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "kappa": "Cohen's kappa",
    "quadratic_kappa": "Quadratic-weighted kappa",
    "auc": "ROC-AUC",
    "macro_auc": "Macro one-vs-rest AUC",
    "pr_auc": "PR-AUC (average precision)",
    "brier": "Brier score (lower is better)",
    "ece": "Expected calibration error (lower is better)",
}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _with_ci(metrics: dict, ci: dict, name: str) -> str:
    interval = ci.get(name)
    text = _fmt(metrics.get(name))
    return (
        f"{text} ({interval['low']:.3f}-{interval['high']:.3f})"
        if interval and metrics.get(name) is not None
        else text
    )


SEGMENTATION_NAMES = {
    "dice": "Dice",
    "iou": "IoU",
    "precision": "Precision",
    "recall": "Recall",
    "hd95_mm": "HD95 (mm)",
    "assd_mm": "ASSD (mm)",
    "volume_difference_ml": "Volume difference (mL)",
    "hd95_px": "HD95 (pixels)",
    "assd_px": "ASSD (pixels)",
    "area_difference_px": "Area difference (pixels)",
}


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("medimg.evaluate", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # Markdown, not HTML
)
_TEMPLATES.filters["fmt"] = _fmt
_TEMPLATES.globals.update(with_ci=_with_ci, names=NAMES, segmentation_names=SEGMENTATION_NAMES)


def ingest_quarantined(reports: Path) -> int | str:
    """How many items ingest set aside, from its summary in ``reports``."""
    summary = reports / "ingest_summary.json"
    if not summary.exists():
        return "unknown (no reports/ingest_summary.json)"
    return json.loads(summary.read_text()).get("by_status", {}).get("quarantined", 0)


def card_context(
    params: Params,
    paths: ProjectPaths,
    report: dict,
    figures: list[str],
    task_description: str,
    counts: dict,
) -> dict:
    """What a model card shows, for either kind of model: the model and its stages, the items per
    split (``counts``: split → class → n for a classifier, split → n for a segmenter), how many items
    ingest set aside, the evaluation ``report``, the split it was measured on, the figure files
    (names under reports/figures), the bootstrap's resamples and the protocol that made the test
    split (the dataset's official one, or assigned by patient)."""
    spec = params.evaluate
    index = pd.read_parquet(paths.index, columns=["split", "split_source"])
    return {
        "model": params.model.name,
        "task_description": task_description,
        "stages": [s.model_dump() for s in params.train.stages],
        "class_names": params.data.class_names,
        "counts": counts,
        "quarantined": ingest_quarantined(paths.reports),
        "report": report,
        "split": spec.split,
        "protocol": split_protocol(
            index["split"], index["split_source"], params.split.ratios, params.split.folds
        ),
        "figures": [f"figures/{f}" for f in figures],
        "resamples": spec.bootstrap.resamples,
        "today": f"{datetime.now(UTC):%Y-%m-%d}",
    }


def render_model_card(context: dict, kind: str) -> str:
    """reports/model_card.md from ``card_context(...)``; ``kind`` is classification or segmentation."""
    return _TEMPLATES.get_template(f"{kind}.md.j2").render(context)
