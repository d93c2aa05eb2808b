"""Plan a project's ingested data: its fingerprint and plan, written to reports/."""

from __future__ import annotations

import functools
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
    reports/. ``budget(plan, cases, replan=)`` adds the plan's training budget (it times the planned
    network, which this package, below the models, cannot build); for pictures ``replan(scale)``
    plans coarser pixels, and the plan is that of the scale the budget chose."""
    rows = usable(read_manifest(paths.manifest))
    # the test split is never looked at: planning from it would leak test data into the model
    rows = rows[rows["split"] != "test"]
    fingerprint = dataset_fingerprint(rows, paths.interim)
    plan = make_plan(fingerprint, params.plan.budget_gb())
    # budgeted: a 3D U-Net on volumes planned 3D, a 2D one on pictures
    budgeted = {"unet3d": plan["configuration"] == "3d", "unet2d": fingerprint["ndim"] == 2}
    if budget is not None and budgeted.get(params.model.name, False):
        replan = functools.partial(make_plan, fingerprint, params.plan.budget_gb())
        chosen = budget(
            plan, fingerprint["cases"], replan=replan if fingerprint["ndim"] == 2 else None
        )
        # a picture budget may train on coarser pixels: the plan is then that scale's
        plan = {**replan(chosen.get("pixel_scale", 1.0)), "budget": chosen}
    atomic.write_json(paths.fingerprint, fingerprint)
    atomic.write_json(paths.plan, plan)
    return fingerprint, plan
