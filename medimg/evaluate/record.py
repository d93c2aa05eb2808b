"""What one evaluation leaves for the step to report: its flat figures and the figure files it
wrote, and how both reach MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.tracking.runs import flatten, pipeline_key, tracking_run

# the report files every evaluation writes under reports/, logged with its MLflow run
REPORT_FILES = ("metrics.json", "evaluation.json", "model_card.md")


@dataclass(frozen=True)
class Evaluation:
    kind: str  # binary, graded or segmentation
    figures: dict  # flat scalar figures (value, _low, _high): what MLflow gets
    headline: dict  # what reports/metrics.json holds, and the step prints
    written: list[str] = field(default_factory=list)  # file names under reports/figures


def log_evaluation(params: Params, paths: ProjectPaths, evaluation: Evaluation) -> None:
    """One MLflow run under the pipeline's parent: the evaluate params, the figures prefixed by
    the split, the report files and the figures."""
    spec, reports = params.evaluate, paths.reports
    with tracking_run(
        params.tracking,
        "evaluate",
        {"step": "evaluate"},
        parent_key=pipeline_key(params, paths.index),
    ) as tracker:
        tracker.log_params(flatten({"evaluate": spec.model_dump()}))
        tracker.log_metrics(
            {f"{spec.split}_{k}": v for k, v in evaluation.figures.items() if isinstance(v, float)}
        )
        for name in REPORT_FILES:
            tracker.log_artifact(reports / name)
        for name in evaluation.written:
            tracker.log_artifact(reports / "figures" / name, "figures")
