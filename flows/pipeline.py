"""The whole DAG as a Prefect flow: `python -m flows.pipeline [--params FILE] [--set k=v ...]`.

Each step is the same `run_<step>` function that `dvc repro` runs through the CLI, wrapped here as
a Prefect task with the retries, retry delay and timeout from the orchestration section.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from medimg.layout import ProjectPaths
from medimg.params import OrchestrationParams, ParamsError
from medimg.params_file import check_paths, demo_outputs, load_params
from tasks.demo_data import run_demo_data
from tasks.evaluate import run_evaluate
from tasks.export import run_export
from tasks.ingest import run_ingest
from tasks.preprocess import run_preprocess
from tasks.train import run_train


class TransientFault(RuntimeError):
    """The injected failure (orchestration.fault_injection): what a lost NFS mount or a busy GPU looks like."""


def with_fault(fn: Callable, name: str, orchestration: OrchestrationParams) -> Callable:
    """``fn``, failing on its first ``failures`` calls when ``name`` is the injected step."""
    injection = orchestration.fault_injection
    if injection.step != name or injection.failures == 0:
        return fn
    attempts = {"n": 0}

    @functools.wraps(fn)
    def flaky(*args, **kwargs):
        attempts["n"] += 1
        if attempts["n"] <= injection.failures:
            raise TransientFault(f"{name}: injected transient fault {attempts['n']} of {injection.failures}")
        return fn(*args, **kwargs)

    return flaky


def as_task(fn: Callable, name: str, orchestration: OrchestrationParams):
    # DVC's stage hashes decide what is up to date; Prefect must not cache on its own.
    return task(with_fault(fn, name, orchestration), name=name, retries=orchestration.retries,
                retry_delay_seconds=orchestration.retry_delay_s, timeout_seconds=orchestration.timeout_s,
                cache_policy=NO_CACHE)


@flow(name="medimg-pipeline", log_prints=True)
def pipeline(params_file: str = "params.yaml", overrides: list[str] | None = None, root: str = ".") -> dict:
    """demo data (when the raw folder is the demo's and missing) → ingest → preprocess → train
    stages → evaluate → export. Returns each step's summary."""
    # one MLflow parent run for this flow run: every step's run nests under it
    os.environ["MEDIMG_PIPELINE_RUN"] = f"prefect-{flow_run.id}"
    try:
        return _run_steps(params_file, overrides, root)
    finally:
        os.environ.pop("MEDIMG_PIPELINE_RUN", None)


def _run_steps(params_file: str, overrides: list[str] | None, root: str) -> dict:
    params = load_params(Path(root) / params_file, overrides)
    problems = check_paths(params, Path(root))
    if problems:
        raise ParamsError("; ".join(problems))
    paths = ProjectPaths.from_params(params, root)
    orch = params.orchestration
    results: dict = {}
    if not paths.raw.exists() and Path(params.data.raw_dir) in demo_outputs(params):
        results["demo-data"] = as_task(run_demo_data, "demo-data", orch)(params, paths)
    results["ingest"] = as_task(run_ingest, "ingest", orch)(params, paths)
    results["preprocess"] = as_task(run_preprocess, "preprocess", orch)(params, paths)
    for stage in params.train.stages:
        results[f"train-{stage.name}"] = as_task(run_train, f"train-{stage.name}", orch)(params, paths, stage.name)
    results["evaluate"] = as_task(run_evaluate, "evaluate", orch)(params, paths)
    results["export"] = as_task(run_export, "export", orch)(params, paths)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the medimg pipeline as a Prefect flow.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    args = parser.parse_args()
    pipeline(args.params, args.overrides)


if __name__ == "__main__":
    main()
