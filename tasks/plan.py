"""Step 2: fingerprint the ingested data and plan from it (the work is medimg.plan).

Writes reports/dataset_fingerprint.json and reports/plan.json. With ``plan: auto`` the later steps
take the plan's value for each planned key params.yaml leaves out; otherwise the plan is advice that
`medimg plan --write` turns into params.
"""

from __future__ import annotations

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.plan.planning import plan_dataset


def run_plan(params: Params, paths: ProjectPaths) -> dict:
    """The fingerprint and plan of the manifest's usable items under ``plan``'s memory budget."""
    fingerprint, plan = plan_dataset(params, paths)
    return {
        "cases": fingerprint["cases"],
        "modality": fingerprint["modality"],
        "configuration": plan["configuration"],
        "patch_size": plan["patch_size"],
        "batch_size": plan["batch_size"],
        "pool_strides": plan["pool_strides"],
        "used_by_later_steps": params.plan.use == "auto",
        "written": [str(paths.fingerprint), str(paths.plan)],
    }
