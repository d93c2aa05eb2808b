"""Ready params per workload: ``medimg params use fundus-dr`` rewrites params.yaml for that job.

A preset (medimg/config/preset_files/<name>.yaml) lists the workload's keys only: data columns, preprocessing,
augmentation, sampling, model, stages, loss, evaluation and tracking names. They are written into
the existing params.yaml in place, keeping its comments and every other key (paths, tracking URI,
orchestration), so a user's own settings survive a switch. Every preset sets the same keys, so
switching A → B gives the same file as switching to B directly.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from medimg.config.loading import format_validation_error
from medimg.config.schema import Params, ParamsError
from medimg.io import atomic

PRESET_DIR = Path(__file__).parent / "preset_files"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def load_preset(name: str) -> dict[str, Any]:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ParamsError(f"preset {name!r}: no such preset; choose one of {preset_names()}")
    return _yaml().load(path.read_text())


def preset_description(name: str) -> str:
    """The preset file's first comment line."""
    first = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0]
    return first.lstrip("# ").strip()


def leaf_paths(tree: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the values a preset sets; lists and empty mappings count as single values."""
    if isinstance(tree, dict) and tree:
        return set().union(*(leaf_paths(v, f"{prefix}{k}.") for k, v in tree.items()))
    return {prefix.rstrip(".")}


def _same_shape_lists(old: Any, new: Any) -> bool:
    return (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and all(isinstance(o, dict) and isinstance(n, dict) for o, n in zip(old, new))
    )


def merge_into(document: Any, preset: dict[str, Any]) -> None:
    """Write ``preset``'s values into ``document`` key by key; mappings merge, everything else replaces.

    A list of mappings as long as the one in place (train.stages) is rewritten item by item, so the
    comments on the keys both share survive; keys the preset's item lacks are dropped.
    """
    for key, value in preset.items():
        old = document.get(key)
        if isinstance(value, dict) and value and isinstance(old, dict):
            merge_into(old, value)
        elif _same_shape_lists(old, value):
            for old_item, new_item in zip(old, value):
                for stale in [k for k in old_item if k not in new_item]:
                    del old_item[stale]
                merge_into(old_item, new_item)
        else:
            document[key] = value


def write_values(params_path: Path, values: dict[str, Any], source: str) -> Params:
    """Rewrite ``params_path`` with ``values`` (a nested {section: {key: value}}) merged in, keeping
    its comments and other settings; atomically, and only if the result is valid. ``source`` names
    where the values came from in an error."""
    yaml = _yaml()
    try:
        document = yaml.load(params_path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{params_path}: params file not found") from None
    merge_into(document, values)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    try:
        params = Params.model_validate(YAML(typ="safe").load(text))
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, f"{params_path} with {source}")) from None
    atomic.write_text(params_path, text)
    return params


def use_preset(name: str, params_path: Path) -> Params:
    """Rewrite ``params_path`` with preset ``name`` (atomically, only if the result is valid)."""
    return write_values(params_path, load_preset(name), f"preset {name}")
