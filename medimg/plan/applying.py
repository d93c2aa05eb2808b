"""``plan: auto``: the params the later steps run with are params.yaml's, with the plan's value for
each planned key params.yaml leaves out or writes as null. A key the user writes (in the file or
with ``--set``) wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medimg.config.schema import Params, ParamsError
from medimg.plan.proposal import flat, proposed_params

# keys the plan sets together: a user who pins one of them pins the group
GROUPED = ("preprocess.window",)
# sibling keys that only fit each other: the U-Net's kernels are planned per stage of its strides
TOGETHER = (("model.pool_strides", "model.conv_kernels"),)


def explicit_keys(model: BaseModel, prefix: str = "") -> set[str]:
    """The dotted keys whose values were given (in the params file or an override), not defaulted
    and not null: a null is the plan's to fill (a preset writes every key, the planned ones null)."""
    keys: set[str] = set()
    for name in model.model_fields_set:
        key = f"{prefix}.{name}" if prefix else name
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            keys |= explicit_keys(value, key)
        elif value is not None:
            keys.add(key)
    return keys


def _group(key: str) -> str:
    return next((g for g in GROUPED if key.startswith(g + ".")), key)


def planned_values(plan: dict, params: Params) -> dict[str, Any]:
    """{dotted key: planned value} for the planned keys the user did not set."""
    given = explicit_keys(params)
    for keys in TOGETHER:
        if given & set(keys):
            given |= set(keys)
    return {
        key: value
        for key, value in flat(proposed_params(plan, params)).items()
        if not any(g == _group(key) or g.startswith(_group(key) + ".") for g in given)
    }


def with_plan(params: Params, plan: dict) -> Params:
    """``params`` with :func:`planned_values` filled in, validated again."""
    values = planned_values(plan, params)
    photos = len(plan["patch_size"]) == 2
    tree = params.model_dump(mode="json")
    for key, value in values.items():
        *parents, last = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    try:
        planned = Params.model_validate(tree)
    except ValueError as exc:
        raise ParamsError(
            f"plan: auto: the planned values do not fit these params: {exc}"
        ) from None
    unfilled = [k for k in planned.left_to_plan() if k != "preprocess.photo.size" or photos]
    if unfilled:
        raise ParamsError(
            f"{', '.join(unfilled)}: null leaves it to the plan, but reports/plan.json proposes "
            "no value for it (the plan sizes pictures and budgets U-Nets only); give a value"
        )
    return planned


def read_plan(plan_file: Path) -> dict:
    """reports/plan.json, or a ParamsError saying how to make it."""
    try:
        return json.loads(plan_file.read_text())
    except FileNotFoundError:
        raise ParamsError(
            f"plan: auto, but {plan_file} does not exist: run `medimg run plan` "
            "(`dvc repro` runs it after ingest)"
        ) from None
