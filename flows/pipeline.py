"""The whole DAG as a Prefect flow: `python -m flows.pipeline [--params FILE] [--set k=v ...]`.

Each step is the same `run_<step>` function that `dvc repro` runs through the CLI, wrapped as a Prefect
task (flows/steps.py) with the retries, retry delay and timeout from the orchestration section. In a
DVC project the flow skips the steps DVC calls up to date and writes dvc.lock for those it runs, so
`dvc repro` and the flow agree on what is current. With ``orchestration.task_runner: dask`` ingest
and preprocess fan out per series on the Dask cluster at ``orchestration.dask.address``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from prefect import Flow, flow
from prefect.runtime import flow_run

from flows.artifacts import publish
from flows.steps import DvcRecord, as_task, fan_out, launch_torchrun
from medimg.config.loading import demo_outputs
from medimg.config.paths import ProjectPaths
from medimg.config.schema import OrchestrationParams, Params, ParamsError
from medimg.pipeline.checks import load_checked_params, planned_params
from medimg.pipeline.steps import STEPS


@flow(name="medimg-pipeline", log_prints=True)
def pipeline(
    params_file: str = "params.yaml",
    overrides: list[str] | None = None,
    root: str = ".",
    until: str | None = None,
) -> dict:
    """demo data (when the raw folder is the demo's) → ingest → preprocess → train stages →
    evaluate → export, stopping after the step ``until`` names. Returns each step's summary, or
    ``{"up_to_date": True}`` for a step DVC found current."""
    # one MLflow parent run for this flow run: every step's run nests under it
    os.environ["MEDIMG_PIPELINE_RUN"] = f"prefect-{flow_run.id}"
    try:
        return _run_steps(params_file, overrides or [], root, until)
    finally:
        os.environ.pop("MEDIMG_PIPELINE_RUN", None)


def _run_steps(params_file: str, overrides: list[str], root: str, until: str | None) -> dict:
    params = load_checked_params(params_file, overrides, root)
    paths = ProjectPaths.from_params(params, root)
    orch = params.orchestration
    dvc = DvcRecord.for_run(Path(root).resolve(), params_file, overrides)
    distributed = orch.torchrun.nproc_per_node * orch.torchrun.nnodes > 1
    # (task name, function, its arguments given the params it runs with); arguments are made when
    # the step runs, so under plan: auto the steps after the plan see the plan it just wrote
    plan: list[tuple[str, Callable, Callable[[Params], tuple], str]] = []
    for step in STEPS:
        run = step.load()
        if (
            step.per_stage
        ):  # training: one task per stage, under torchrun when params ask for processes
            for stage in params.train.stages:
                name = f"{step.name}-{stage.name}"
                if distributed:
                    plan.append(
                        (
                            name,
                            launch_torchrun,
                            lambda p, s=stage.name: (p, root, params_file, overrides, s),
                            step.name,
                        )
                    )
                else:
                    plan.append(
                        (
                            name,
                            run,
                            lambda p, s=stage.name, n=name: (
                                p,
                                paths,
                                s,
                                False,
                                None,
                                fan_out(n, orch),
                            ),
                            step.name,
                        )
                    )
        elif (
            step.name == "demo-data"
        ):  # only when the raw folder is the demo's and DVC tracks it or it is missing
            if Path(params.data.raw_dir) in demo_outputs(params) and (
                dvc.tracks(step.name) or not paths.raw.exists()
            ):
                plan.append((step.name, run, lambda p: (p, paths), step.name))
        elif step.fans_out:
            plan.append(
                (step.name, run, lambda p, n=step.name: (p, paths, fan_out(n, orch)), step.name)
            )
        else:
            plan.append((step.name, run, lambda p: (p, paths), step.name))
    names = [name for name, _, _, _ in plan]
    if until is not None and until not in names:
        raise ParamsError(f"until: '{until}' is not a step of this pipeline ({', '.join(names)})")

    results: dict = {}
    for name, fn, args, step_name in plan:
        step_params = planned_params(params, step_name, root)
        results[name] = as_task(fn, name, orch, dvc)(*args(step_params))
        publish(name, paths)  # up to date or not, the UI shows the step's current figures
        if name == until:
            break
    return results


def task_runner_for(orchestration: OrchestrationParams):
    """The Prefect task runner the params ask for; None for the default (steps use their own pools)."""
    if orchestration.task_runner != "dask":
        return None
    from prefect_dask import DaskTaskRunner

    dask = orchestration.dask
    if dask.address:
        return DaskTaskRunner(address=dask.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": dask.local_workers,
            "threads_per_worker": dask.threads_per_worker,
            "dashboard_address": None,
        }
    )


def pipeline_for(params: Params) -> Flow:
    """The pipeline flow with the task runner from ``params`` (a Dask cluster, or the default)."""
    runner = task_runner_for(params.orchestration)
    return pipeline.with_options(task_runner=runner) if runner is not None else pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the medimg pipeline as a Prefect flow.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE"
    )
    parser.add_argument(
        "--until", metavar="STEP", help="stop after this step (e.g. preprocess, train-freeze)"
    )
    args = parser.parse_args()
    try:
        params = load_checked_params(args.params, args.overrides, ".")
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None  # as the CLI: 2 means bad params
    pipeline_for(params)(args.params, args.overrides, until=args.until)


if __name__ == "__main__":
    main()
