"""Reading params.yaml: ``--set`` overrides, one message naming every bad key, and path checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from medimg.config.schema import DataParams, Params, ParamsError
from medimg.io.dataset_json import DatasetJsonError, class_names_of


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"function-after", "function-before"} or "[" in str(part):
            continue  # pydantic's internal validator frames, not user keys
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid params ({err.error_count()} problem(s)):"]
    for item in err.errors():
        key = _key_path(item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and section)"
        elif (
            "input" in item
            and item["type"] not in {"missing"}
            and not isinstance(item["input"], dict)
        ):
            # a whole section as "got ..." would bury the message (cross-key checks name their keys)
            msg += f" (got {item['input']!r})"
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def parse_override(assignment: str) -> tuple[list[str | int], Any]:
    """Split ``train.stages[1].epochs=3`` into a key path and a YAML-typed value."""
    if "=" not in assignment:
        raise ParamsError(f"--set {assignment!r}: expected key.path=value")
    key, raw = assignment.split("=", 1)
    path: list[str | int] = []
    for part in key.replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        path.append(int(part) if part.isdigit() else part)
    if not path:
        raise ParamsError(f"--set {assignment!r}: empty key")
    return path, yaml.safe_load(raw)


def apply_override(raw: dict[str, Any], path: list[str | int], value: Any) -> None:
    node: Any = raw
    for depth, part in enumerate(path[:-1]):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            shown = ".".join(str(p) for p in path[: depth + 1])
            raise ParamsError(f"--set: no key {shown!r} in params") from None
    try:
        node[path[-1]] = value
    except (IndexError, TypeError):
        raise ParamsError(f"--set: cannot set {'.'.join(map(str, path))!r}") from None


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override and validate a params file. Raises ParamsError naming every bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    for assignment in overrides or []:
        apply_override(raw, *parse_override(assignment))
    _class_names_from_dataset(raw, path)
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, str(path))) from None


FROM_DATASET = "from_dataset"


def _class_names_from_dataset(raw: dict[str, Any], path: Path) -> None:
    """``data.class_names: from_dataset`` takes the label names of raw_dir's dataset.json (a
    Decathlon or nnU-Net folder); any list in params says otherwise and wins. The model's outputs
    follow the names (``model.num_classes``): a preset written for two classes fits a dataset of
    three without a second edit."""
    data = raw.get("data")
    if not isinstance(data, dict) or data.get("class_names") != FROM_DATASET:
        return
    folder = path.parent / data.get("raw_dir", DataParams().raw_dir)
    try:
        data["class_names"] = class_names_of(folder)
    except DatasetJsonError as exc:
        raise ParamsError(f"{path}: data.class_names is {FROM_DATASET}, but {exc}") from None
    model = raw.setdefault("model", {})
    if isinstance(model, dict):
        model["num_classes"] = len(data["class_names"])


# the demo datasets, each a folder under demo.out_dir (medimg.demo.datasets generates them)
DEMO_DATASETS = ("ct-nodule", "fundus-dr", "skin-lesion")


def demo_outputs(params: Params) -> set[Path]:
    """Raw folders the demo-data step creates, so a check can tell 'not generated yet' from 'missing'."""
    return {Path(params.demo.out_dir) / name for name in DEMO_DATASETS}


def check_paths(params: Params, root: Path = Path(".")) -> list[str]:
    """Filesystem problems that make the params unusable; a raw folder the demo will make is fine."""
    problems = []
    raw = Path(params.data.raw_dir)
    if not (root / raw).is_dir() and raw not in demo_outputs(params):
        problems.append(
            f"data.raw_dir: folder {raw} does not exist (dvc pull, or dvc add your data there)"
        )
    init = params.model.init
    if init != "none" and not (root / init).is_file():
        problems.append(
            f"model.init: checkpoint {init} does not exist (use none or a medimg checkpoint)"
        )
    return problems
