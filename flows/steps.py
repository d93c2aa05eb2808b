"""How the flows run a pipeline step: as a Prefect task with retries, skipped when DVC says it is up to
date and recorded in dvc.lock when it ran, its per-series work fanned out on the flow's task runner,
and training launched under torchrun when params ask for more than one process.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows import dvc_stages
from medimg.config.orchestration import TorchrunParams
from medimg.config.schema import OrchestrationParams, Params


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
            raise TransientFault(
                f"{name}: injected transient fault {attempts['n']} of {injection.failures}"
            )
        return fn(*args, **kwargs)

    return flaky


@dataclass(frozen=True)
class DvcRecord:
    """The DVC project the flow keeps in step with; ``stages`` empty when there is none to keep."""

    root: Path
    stages: frozenset[str]

    @classmethod
    def for_run(cls, root: Path, params_file: str, overrides: list[str] | None) -> DvcRecord:
        stages = dvc_stages.tracked_stages(root)
        if stages is None:
            return cls(root, frozenset())
        # dvc.lock records the values in params.yaml; a run with other values must not claim them
        if overrides or (root / params_file).resolve() != (root / "params.yaml").resolve():
            print(
                f"params from {params_file} with overrides {overrides or []}: every step runs and dvc.lock "
                "is left as it is"
            )
            return cls(root, frozenset())
        return cls(root, frozenset(stages))

    def tracks(self, step: str) -> bool:
        return dvc_stages.stage_name(step) in self.stages


def as_task(fn: Callable, name: str, orchestration: OrchestrationParams, dvc: DvcRecord):
    """``fn`` as a Prefect task named ``name``: skipped when its DVC stage is up to date, committed
    to dvc.lock when it ran, with the retries, delay and timeout from params."""
    body = with_fault(fn, name, orchestration)

    @functools.wraps(fn)
    def step(*args, **kwargs):
        stage = dvc_stages.stage_name(name)
        if dvc.tracks(name) and not dvc_stages.changes(dvc.root, stage):
            get_run_logger().info("%s: up to date (dvc status), not rerun", stage)
            return {"up_to_date": True, "stage": stage}
        result = body(*args, **kwargs)
        if dvc.tracks(name):
            dvc_stages.record(dvc.root, stage)
        return result

    # DVC's stage hashes decide what is up to date; Prefect must not cache on its own.
    return task(
        step,
        name=name,
        retries=orchestration.retries,
        retry_delay_seconds=orchestration.retry_delay_s,
        timeout_seconds=orchestration.timeout_s,
        cache_policy=NO_CACHE,
    )


def fan_out(
    name: str, orchestration: OrchestrationParams
) -> Callable[[Callable, list], list] | None:
    """A ``map_items`` for ingest, preprocess (per item) and k-fold training (per fold) that runs one
    Prefect task per item on the flow's task runner (the Dask cluster), with the step's retries;
    None keeps the step's own process pool (or trains the folds one after another)."""
    if orchestration.task_runner != "dask":
        return None

    def map_items(fn: Callable, items: list) -> list:
        if not items:
            return []
        per_item = task(
            fn,
            name=f"{name}-item",
            retries=orchestration.retries,
            retry_delay_seconds=orchestration.retry_delay_s,
            cache_policy=NO_CACHE,
        )
        return [future.result() for future in per_item.map(items)]

    return map_items


def torchrun_command(
    params_file: str, overrides: list[str], stage: str, spec: TorchrunParams
) -> list[str]:
    """The torchrun command line that trains ``stage`` data-parallel with the same params."""
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(spec.nproc_per_node),
        "--nnodes",
        str(spec.nnodes),
    ]
    launch += (
        ["--rdzv_backend", "c10d", "--rdzv_endpoint", spec.rdzv_endpoint]
        if spec.nnodes > 1
        else ["--standalone"]
    )
    step = ["-m", "medimg", "run", "train", "--stage", stage, "--params", params_file]
    return launch + step + [arg for value in overrides for arg in ("--set", value)]


def launch_torchrun(
    params: Params, root: Path, params_file: str, overrides: list[str], stage: str
) -> dict:
    """Train ``stage`` under torchrun from ``root`` and return its summary.json."""
    command = torchrun_command(params_file, overrides, stage, params.orchestration.torchrun)
    print("launching: " + " ".join(command[1:]))
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"torchrun for stage {stage} exited {done.returncode}:\n{done.stderr[-4000:]}"
        )
    return json.loads((Path(root) / params.data.models_dir / stage / "summary.json").read_text())
