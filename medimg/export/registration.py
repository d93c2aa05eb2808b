"""The export in MLflow: its params, each variant's figures and latency, the fp32 model registered
with a description a reviewer can act on, and the bundle's files. The export report and headline
are written inside the run, once the registered version is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.deploy.bundle import BUNDLE_FILE
from medimg.export.description import version_description
from medimg.export.gate import gate_headline
from medimg.export.judging import Judgement
from medimg.io import atomic
from medimg.io.digest import file_digest, settings_fingerprint
from medimg.tracking.runs import flatten, pipeline_key, tracking_run

# the figure reports/metrics.json names for each key metric the gate reads
HEADLINE_KEY = {
    "auc": "auc",
    "quadratic_kappa": "quadratic_kappa",
    "dice_present": "dice_present_mean",
    "dice": "dice_mean",
}
REPORT_FILE, HEADLINE_FILE = "export_report.json", "export_metrics.json"


def _describe_version(params: Params, paths: ProjectPaths, tracker, version, judged: Judgement):
    """Log the model card with the registered version's run and describe the version with the
    headline figures, the gate's verdicts and the data and training digests."""
    card = paths.reports / "model_card.md"
    tracker.log_artifact(card, "model_card")
    metrics_path = paths.reports / "metrics.json"
    headline = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    training = params.model_dump(include={"model", "train", "augment", "loss", "sampling"})
    text = version_description(
        params.model.name,
        f"{CATALOG[params.model.name].task} of {', '.join(params.data.class_names)}",
        headline,
        HEADLINE_KEY[judged.metric],
        judged.quality,
        {
            "data": file_digest(paths.index)[:16] if paths.index.exists() else "n/a",
            "training": settings_fingerprint(training),
        },
        tracker.artifact_link("model_card/model_card.md") if card.exists() else None,
        judged.temperature,
    )
    tracker.describe_version(params.tracking.registered_model, version, text)


def record_export(
    params: Params,
    paths: ProjectPaths,
    report: dict,
    judged: Judgement,
    latency: dict,
    onnx_path: Path,
    example: np.ndarray,
    reference_output: np.ndarray,
) -> dict:
    """Log the export, register the fp32 model, then write export_report.json (with the registered
    version) and export_metrics.json and log them with the bundle; returns the report."""
    art = paths.artifacts
    with tracking_run(
        params.tracking, "export", {"step": "export"}, parent_key=pipeline_key(params, paths.index)
    ) as tracker:
        tracker.log_params(flatten({"export": params.export.model_dump()}))
        tracker.log_metrics(
            {
                f"{name}_{key}": value
                for name, figures in judged.quality.items()
                for key, value in figures.items()
                if isinstance(value, float)
            }
        )
        tracker.log_metrics(
            {
                f"latency_ms_{size}_{name}": value
                for size, row in latency.items()
                for name, value in row.items()
            }
        )
        version = tracker.register_onnx_model(
            onnx_path, params.tracking.registered_model, example, reference_output
        )
        report = {
            **report,
            "registered_model": {"name": params.tracking.registered_model, "version": version},
        }
        if version is not None:
            _describe_version(params, paths, tracker, version, judged)
        atomic.write_json(art / REPORT_FILE, report)
        atomic.write_json(art / HEADLINE_FILE, gate_headline(judged.quality, latency))
        for name in (REPORT_FILE, BUNDLE_FILE):
            tracker.log_artifact(art / name, "bundle")
    return report
