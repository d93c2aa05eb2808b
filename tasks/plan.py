"""Step 2: fingerprint the ingested data and plan from it (the work is medimg.plan).

Writes reports/dataset_fingerprint.json and reports/plan.json. With ``plan: auto`` the later steps
take the plan's value for each planned key params.yaml leaves out; otherwise the plan is advice that
`medimg plan --write` turns into params.
"""

from __future__ import annotations

import functools
import sys

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.plan.applying import explicit_keys
from medimg.plan.planning import plan_dataset
from medimg.train.budget import fit_budget


def run_plan(params: Params, paths: ProjectPaths) -> dict:
    """The fingerprint and plan of the manifest's usable items under ``plan``'s memory budget; for
    a U-Net on volumes or pictures also its compute budget (batches per epoch, for pictures the
    pixel size), timed on this machine."""
    pinned = "model.width" in explicit_keys(params)
    budget_for = functools.partial(fit_budget, params, width_pinned=pinned)
    fingerprint, plan = plan_dataset(params, paths, budget_for)
    budget = plan.get("budget")
    if budget and budget["device"] == "cpu":
        print(
            f"plan: width {budget['width']}, "
            + (
                f"pictures at {budget['patch_size']} ({budget['pixel_scale']:g}x coarser), "
                if "pixel_scale" in budget
                else ""
            )
            + f"{budget['batches_per_epoch']} batches per epoch x "
            f"{budget['epochs']} epochs "
            f"at {budget['seconds_per_batch']} s per batch on this CPU: about "
            f"{budget['expected_minutes_per_fold']} min per fold with validation "
            f"(plan.cpu_minutes_per_fold: {budget['cpu_minutes_per_fold']:g})",
            file=sys.stderr,
        )
    return {
        "cases": fingerprint["cases"],
        "modality": fingerprint["modality"],
        "configuration": plan["configuration"],
        "patch_size": plan["patch_size"],
        "batch_size": plan["batch_size"],
        "pool_strides": plan["pool_strides"],
        "budget": budget,
        "used_by_later_steps": params.plan.use == "auto",
        "written": [str(paths.fingerprint), str(paths.plan)],
    }
