"""The checks a driver makes before it runs a step: params valid, folders there, and for training the
dvc.yaml stages in step with train.stages. All fail with a ParamsError before any work."""

from __future__ import annotations

from pathlib import Path

import yaml

from medimg.config.loading import check_paths, load_params
from medimg.config.schema import Params, ParamsError
from medimg.pipeline.steps import reads_plan


def check_dvc_train_stages(params: Params, root: Path = Path(".")) -> list[str]:
    """Each entry of train.stages must be a dvc.yaml stage ``train_<name>`` running that stage, and the
    other way round: DVC cannot derive stages from a list, so the two are kept in step by hand."""
    dvc_file = Path(root) / "dvc.yaml"
    if not dvc_file.exists():
        return []
    stages = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages", {})
    declared = {name[len("train_") :] for name in stages if name.startswith("train_")}
    wanted = [s.name for s in params.train.stages]
    problems = [
        f"train.stages: stage {name!r} has no dvc.yaml stage train_{name} (add one like train_{wanted[0]}, "
        "depending on the previous stage's ckpt.pt)"
        for name in wanted
        if name not in declared
    ]
    problems += [
        f"dvc.yaml: stage train_{name} trains {name!r}, which train.stages does not list"
        for name in sorted(declared - set(wanted))
    ]
    for name in set(wanted) & declared:
        if f"--stage {name}" not in str(stages[f"train_{name}"].get("cmd", "")):
            problems.append(
                f"dvc.yaml: stage train_{name} must run `medimg run train --stage {name}`"
            )
    return problems


def load_checked_params(
    path: str | Path,
    overrides: list[str] | None = None,
    root: str | Path = ".",
    step: str | None = None,
) -> Params:
    """The params file validated, then the folders (and, for training, the dvc.yaml stages) the step
    needs checked against ``root``; ``step`` None checks everything. Raises ParamsError before any work."""
    params = load_params(Path(root) / path, overrides)
    problems = check_paths(params, Path(root)) if step in (None, "ingest") else []
    if step in (None, "train"):
        problems += check_dvc_train_stages(params, Path(root))
    if problems:
        raise ParamsError(f"{path}: " + "; ".join(problems))
    return planned_params(params, step, root) if step is not None else params


def planned_params(params: Params, step: str, root: str | Path = ".") -> Params:
    """The params ``step`` runs with: under ``plan: auto``, a step after the plan takes the plan's
    value (reports/plan.json) for each planned key the params file leaves out."""
    if params.plan.use != "auto" or not reads_plan(step):
        return params
    # imported here: only steps that read the plan depend on the code that applies it
    from medimg.config.paths import ProjectPaths
    from medimg.plan.applying import read_plan, with_plan

    return with_plan(params, read_plan(ProjectPaths.from_params(params, root).plan))
