"""params.yaml's orchestration and retrain sections: how the Prefect flows run, never what they compute.

No DVC stage reads these, so changing a schedule, a retry count or the Dask address reruns nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from medimg.config.base import NonNegInt, PositiveFloat, PositiveInt, Section


class FaultInjection(Section):
    """Make one step fail with a transient error on its first attempts: proves the retries work."""

    step: str | None = None  # demo-data | ingest | preprocess | train-<stage> | evaluate | export
    failures: NonNegInt = 0  # attempts that fail before the step runs for real


class DaskParams(Section):
    address: str | None = None  # tcp://scheduler:8786 of a running cluster; null: start a local one
    local_workers: PositiveInt = 2  # workers of that local cluster (one process each)
    threads_per_worker: PositiveInt = 1


class TorchrunParams(Section):
    """Launch each training stage under torchrun (data-parallel); 1 process on 1 node runs it in-flow."""

    nproc_per_node: PositiveInt = 1  # GPUs per node (CPU processes with gloo when there is no GPU)
    nnodes: PositiveInt = 1
    rdzv_endpoint: str | None = None  # host:port of the rendezvous, needed when nnodes > 1


class OrchestrationParams(Section):
    retries: NonNegInt = 2
    retry_delay_s: Annotated[float, Field(ge=0)] = 10.0
    timeout_s: PositiveFloat = 3600.0
    fault_injection: FaultInjection = FaultInjection()
    # local: each step uses its own process pool; dask: ingest and preprocess fan out per series as
    # Prefect tasks on a Dask cluster (the raw and data folders must be shared storage then)
    task_runner: Literal["local", "dask"] = "local"
    dask: DaskParams = DaskParams()
    torchrun: TorchrunParams = TorchrunParams()

    @field_validator("torchrun")
    @classmethod
    def _multi_node_needs_rendezvous(cls, value: TorchrunParams) -> TorchrunParams:
        if value.nnodes > 1 and not value.rdzv_endpoint:
            raise ValueError(
                "torchrun.nnodes > 1 needs torchrun.rdzv_endpoint (host:port every node can reach)"
            )
        return value


class RetrainParams(Section):
    """Scheduled retraining: when it runs and when a challenger replaces the champion."""

    cron: Annotated[str, Field(min_length=9)] = "0 3 * * 1"  # Mondays 03:00
    timezone: str = "UTC"
    deployment: Annotated[str, Field(min_length=1)] = "scheduled-retrain"
    # the challenger must beat the champion's key metric (AUC, kappa, Dice) by at least this ...
    margin: Annotated[float, Field(ge=0, le=1)] = 0.01
    # ... and be no worse than this on every other clinical metric
    tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"'{value}' is not a cron expression of 5 fields (minute hour day month weekday)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (an IANA name such as UTC or Europe/Berlin)"
            ) from None
        return value
