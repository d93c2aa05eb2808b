"""Scheduled retraining: `python -m flows.retrain`, or served on a cron schedule by `python -m flows.serve`.

update the raw data → the pipeline flow (DVC reruns only what changed) → champion/challenger on the
same test split → the MLflow alias ``champion`` moves only for a better model. The outputs of the
last good run are kept aside first; if anything fails they are put back, so a failed run leaves the
champion, the artifacts and dvc.lock as it found them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows import dvc_stages
from flows.artifacts import publish
from flows.pipeline import pipeline_for
from flows.steps import DvcRecord, as_task
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, ParamsError
from medimg.pipeline.checks import load_checked_params
from medimg.retrain.snapshot import restore_snapshot, take_snapshot
from medimg.tracking.runs import tracking_uri
from tasks.promote import now_utc, run_promote, write_decision

SNAPSHOT = Path(".medimg") / "last-good"  # exists only while a retraining run is under way


def outputs_to_keep(params: Params) -> list[str]:
    """What a failed run must not leave changed: the model, report and bundle folders, and dvc.lock.
    The data folders are left: they are incremental caches, and dvc.lock then marks them stale."""
    d = params.data
    return [d.models_dir, d.reports_dir, d.artifacts_dir, "dvc.lock"]


@task(name="update-raw-data", cache_policy=NO_CACHE)
def update_raw_data(root: str) -> str:
    return dvc_stages.update_data(Path(root))


@flow(name="medimg-retrain", log_prints=True)
def retrain(params_file: str = "params.yaml", root: str = ".") -> dict:
    """Retrain on the current data and promote the result only if it beats the champion."""
    params = load_checked_params(params_file, None, root)
    if not params.tracking.enabled:
        raise ParamsError(
            "tracking.enabled: retraining needs the MLflow model registry; set it to true"
        )
    paths = ProjectPaths.from_params(params, root)
    keep, store = outputs_to_keep(params), Path(root) / SNAPSHOT
    if store.exists():  # an earlier run was killed mid-way: its outputs are not to be trusted
        print(
            "an interrupted retraining run left its snapshot: restoring the last good outputs first"
        )
        restore_snapshot(Path(root), keep, store)
    print(update_raw_data(root))
    take_snapshot(Path(root), keep, store)
    try:
        pipeline_for(params)(params_file, None, root)
        decision = as_task(
            run_promote, "promote", params.orchestration, DvcRecord(Path(root), frozenset())
        )(params, paths)
    except BaseException as exc:
        restore_snapshot(Path(root), keep, store)
        shutil.rmtree(store)
        write_decision(
            paths,
            {
                "time_utc": now_utc(),
                "promote": False,
                "failed": True,
                "reason": f"the run failed ({type(exc).__name__}: {str(exc)[:500]}); the last good "
                "outputs, dvc.lock and the champion are as they were",
            },
        )
        publish("promote", paths, tracking_uri(params.tracking))
        raise
    shutil.rmtree(store)
    publish("promote", paths, tracking_uri(params.tracking))
    return decision


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Retrain once now and promote the result if it beats the champion."
    )
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    try:
        load_checked_params(args.params, None, ".")
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None  # as the CLI: 2 means bad params
    retrain(args.params)


if __name__ == "__main__":
    main()
