"""Step 6 (scheduled retraining): the new model (challenger) against the registered champion.

Both are scored by the same code on the same test split: the challenger is the ONNX model the export
step just registered, the champion the version behind the MLflow alias ``champion``, each at its own
operating threshold. The challenger takes the alias only if it beats the champion's key metric by
``retrain.margin`` and is worse on no other clinical metric by more than ``retrain.tolerance``. The
decision, with both sets of figures, goes to reports/retrain/ and to an MLflow run.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, ParamsError
from medimg.deploy.bundle import load_bundle_spec
from medimg.deploy.runners import onnxruntime_runner
from medimg.export.scoring import load_split, operating_point, score_session
from medimg.io import atomic
from medimg.retrain.champion import decide
from medimg.retrain.registry import ALIAS, champion_version, download_version
from medimg.tracking.runs import tracking_run, tracking_uri


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_decision(paths: ProjectPaths, record: dict) -> Path:
    """reports/retrain/decision-<time>.json, and the same as latest.json."""
    folder = paths.reports / "retrain"
    stamp = record["time_utc"].replace(":", "").replace("-", "")
    atomic.write_json(folder / f"decision-{stamp}.json", record)
    return atomic.write_json(folder / "latest.json", record)


def _run_of(client, name: str, version: str | None) -> str | None:
    return client.get_model_version(name, version).run_id if version is not None else None


def run_promote(params: Params, paths: ProjectPaths) -> dict:
    """Compare, promote if the rule says so, record the decision; returns the record."""
    if not params.tracking.enabled:
        raise ParamsError(
            "tracking.enabled: champion/challenger needs the MLflow model registry; set it to true"
        )
    import mlflow

    report = json.loads((paths.artifacts / "export_report.json").read_text())
    bundle = load_bundle_spec(paths.artifacts)
    name, challenger = (
        report["registered_model"]["name"],
        str(report["registered_model"]["version"]),
    )
    mlflow.set_tracking_uri(
        tracking_uri(params.tracking)
    )  # models:/ URIs resolve against this store
    client = mlflow.MlflowClient()
    champion = champion_version(client, name)
    record = {
        "time_utc": now_utc(),
        "model": name,
        # the MLflow runs behind each version, for whoever reads the decision
        "challenger": {"version": challenger, "run_id": _run_of(client, name, challenger)},
        "champion": {"version": champion, "run_id": _run_of(client, name, champion)},
        "margin": params.retrain.margin,
        "tolerance": params.retrain.tolerance,
    }
    if champion == challenger:
        record.update(
            promote=False, reason=f"nothing new: version {challenger} is already the champion"
        )
        return _record(params, paths, record, client)

    images, targets = load_split(params, paths)
    record["test_items"] = len(images)
    key, record["challenger"]["figures"] = score_session(
        onnxruntime_runner(paths.artifacts / "model.onnx"),
        params,
        images,
        targets,
        *operating_point(paths),
    )
    champion_figures = None
    if champion is not None:
        with tempfile.TemporaryDirectory() as tmp:
            model, champion_bundle = download_version(client, name, champion, Path(tmp))
            if (
                champion_bundle.preprocess != bundle.preprocess
                or champion_bundle.input_shape != bundle.input_shape
            ):
                record.update(
                    promote=False,
                    key=key,
                    reason="the champion was trained on another preprocessing "
                    "recipe, so the two cannot share a test split; promote by hand if intended",
                )
                return _record(params, paths, record, client)
            _, champion_figures = score_session(
                onnxruntime_runner(model),
                params,
                images,
                targets,
                champion_bundle.positive_threshold,
                champion_bundle.temperature,
            )
        record["champion"]["figures"] = champion_figures
    record.update(
        decide(
            key,
            record["challenger"]["figures"],
            champion_figures,
            params.retrain.margin,
            params.retrain.tolerance,
        )
    )
    if record["promote"]:
        client.set_registered_model_alias(name, ALIAS, challenger)
    return _record(params, paths, record, client)


def _record(params: Params, paths: ProjectPaths, record: dict, client) -> dict:
    """Write the decision to reports/retrain/ (one file per run and latest.json) and to MLflow."""
    latest = write_decision(paths, record)
    verdict = "promoted" if record["promote"] else "kept champion"
    client.set_model_version_tag(
        record["model"], record["challenger"]["version"], "medimg.retrain", verdict
    )
    with tracking_run(
        params.tracking, "retrain-decision", {"step": "promote", "decision": verdict}
    ) as tracker:
        for side in ("challenger", "champion"):
            tracker.log_metrics(
                {f"{side}_{k}": v for k, v in record[side].get("figures", {}).items()}
            )
        tracker.log_artifact(latest, "retrain")
    print(
        f"retrain: {verdict} (challenger v{record['challenger']['version']}, champion "
        f"v{record['champion']['version']}): {record['reason']}"
    )
    return record
