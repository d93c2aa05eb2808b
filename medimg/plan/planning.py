"""Plan a project's ingested data: its fingerprint and plan, written to reports/."""

from __future__ import annotations

from collections.abc import Callable

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.ingest.manifest import read_manifest, usable
from medimg.io import atomic
from medimg.plan.fingerprint import dataset_fingerprint
from medimg.plan.planner import make_plan


def plan_dataset(
    params: Params, paths: ProjectPaths, budget: Callable[[dict, int], dict] | None = None
) -> tuple[dict, dict]:
    """(fingerprint, plan) of the usable training and validation items of the manifest, written to
    reports/. ``budget(plan, cases)`` adds the plan's training budget (it times the planned network, which
    this package, below the models, cannot build)."""
    rows = usable(read_manifest(paths.manifest))
    # the test split is never looked at: planning from it would leak test data into the model
    rows = rows[rows["split"] != "test"]
    fingerprint = dataset_fingerprint(rows, paths.interim)
    plan = make_plan(fingerprint, params.plan.budget_gb())
    if budget is not None and plan["configuration"] == "3d":
        plan["budget"] = budget(plan, fingerprint["cases"])
    atomic.write_json(paths.fingerprint, fingerprint)
    atomic.write_json(paths.plan, plan)
    return fingerprint, plan
