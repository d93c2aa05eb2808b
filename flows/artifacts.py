"""Prefect artifacts: the figures people read in the Prefect UI beside each run's states and logs.

Each step's report on disk becomes a table or a note under a stable key, so the UI's Artifacts page
keeps every key's history across runs. The rows are built by plain functions from the reports the
steps wrote; only ``publish`` talks to Prefect.
"""

from __future__ import annotations

import json
from pathlib import Path

from medimg.config.paths import ProjectPaths

KEYS = {
    "ingest": "medimg-ingest-summary",
    "evaluate": "medimg-test-metrics",
    "export": "medimg-export-gate",
    "promote": "medimg-retrain-decision",
}


def ingest_rows(summary: dict) -> list[dict]:
    """Items by status and by reason code, files skipped by reason, items by split."""
    groups = (
        ("status", summary["by_status"]),
        ("quarantine reason", summary.get("by_reason", {})),
        ("skipped file reason", summary.get("skipped_files_by_reason", {})),
        ("split", summary["by_split"]),
    )
    return [
        {"group": group, "name": name, "count": count}
        for group, counts in groups
        for name, count in sorted(counts.items())
    ]


def _rounded(value):
    return None if value is None else round(float(value), 4)


def metric_rows(evaluation: dict) -> list[dict]:
    """Every clinical figure on the evaluated split with its 95% interval (per class for
    segmentation), plus the operating point and calibration where there are such."""
    blocks = (
        {name: (b["metrics"], b["ci95"]) for name, b in evaluation["classes"].items()}
        if "cases" in evaluation
        else {"": (evaluation["metrics"], evaluation["ci95"])}
    )
    rows = []
    for block, (metrics, ci) in blocks.items():
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                interval = ci.get(name, {})
                rows.append(
                    {
                        "metric": f"{block} {name}".strip(),
                        "value": _rounded(value),
                        "ci95_low": _rounded(interval.get("low")),
                        "ci95_high": _rounded(interval.get("high")),
                    }
                )
    point = evaluation.get("operating_point")
    if point:
        rows.append({"metric": "threshold (chosen on val)", "value": _rounded(point["threshold"])})
    if evaluation.get("calibration"):
        rows.append(
            {"metric": "temperature", "value": _rounded(evaluation["calibration"]["temperature"])}
        )
    return rows


def gate_rows(report: dict) -> list[dict]:
    """Each exported variant: its threshold, its changes from fp32 on val, the verdict and why,
    and its CPU latency."""
    key, latency = report["key_metric"], report["latency_ms"]
    rows = []
    for variant, quality in report["quality"].items():
        deltas = quality["val_deltas"]
        rows.append(
            {
                "variant": variant,
                "threshold": _rounded(quality["threshold"]),
                key: _rounded(quality[key]),
                f"{key} change (val)": _rounded(deltas.get(key)),
                "sensitivity change (val)": _rounded(deltas.get("sensitivity")),
                "specificity change (val)": _rounded(deltas.get("specificity")),
                "deployable": quality["deployable"],
                "why not": "; ".join(quality["reasons"]),
                "batch 1 ms": _rounded(latency["batch1"].get(variant)),
                "batch 8 ms": _rounded(latency["batch8"].get(variant)),
            }
        )
    return rows


def decision_markdown(record: dict, tracking_uri: str) -> str:
    """Champion beside challenger, the decision and why, and where to find both in MLflow."""
    name = record.get("model", "")
    sides = ("challenger", "champion")
    figures = {side: record.get(side, {}).get("figures") or {} for side in sides}
    names = sorted(set(figures["challenger"]) | set(figures["champion"]))
    web = tracking_uri.startswith(("http://", "https://"))

    def version_cell(side: str) -> str:
        version = record.get(side, {}).get("version")
        if version is None:
            return "none"
        run = record[side].get("run_id")
        if web:
            link = f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}"
            return f"[v{version}]({link})" + (f", run `{run}`" if run else "")
        return f"v{version}" + (f", run `{run}`" if run else "")

    verdict = "**promoted**" if record.get("promote") else "**champion kept**"
    lines = [
        f"# Retraining decision: {verdict}",
        "",
        record.get("reason", ""),
        "",
        f"Registered model `{name}` in the MLflow store `{tracking_uri}`.",
        "",
        "| | challenger | champion |",
        "|---|---|---|",
        f"| version | {version_cell('challenger')} | {version_cell('champion')} |",
    ]
    for metric in names:
        cells = [figures[side].get(metric) for side in sides]
        lines.append(
            f"| {metric} | " + " | ".join("n/a" if v is None else f"{v:.4f}" for v in cells) + " |"
        )
    return "\n".join(lines)


def publish(step: str, paths: ProjectPaths, tracking_uri: str = "") -> str | None:
    """Create the artifact for ``step`` from the report it wrote (None for steps without one).
    Called inside a flow run, so the artifact belongs to that run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    sources = {
        "ingest": paths.reports / "ingest_summary.json",
        "evaluate": paths.reports / "evaluation.json",
        "export": paths.artifacts / "export_report.json",
        "promote": paths.reports / "retrain" / "latest.json",
    }
    source = sources.get(step)
    if source is None or not Path(source).exists():
        return None
    report = json.loads(Path(source).read_text())
    key = KEYS[step]
    if step == "promote":
        create_markdown_artifact(
            decision_markdown(report, tracking_uri), key=key, description="champion/challenger"
        )
    else:
        rows = {"ingest": ingest_rows, "evaluate": metric_rows, "export": gate_rows}[step](report)
        descriptions = {
            "ingest": "items by status and reason, files skipped, items by split",
            "evaluate": f"clinical figures on the {report.get('split', 'test')} split, 95% CI",
            "export": "each variant at its own threshold, gated on val; CPU latency",
        }
        create_table_artifact(rows, key=key, description=descriptions[step])
    return key
