"""Atomic writes: every output is written to a temp file in its own folder, then renamed.

A killed step therefore leaves either the previous file or the new one, never half of one; the temp
name starts with '.tmp-', and each step sweeps such leftovers of a killed run from its output
folders when it starts (:func:`sweep_leftovers`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it over ``target`` only if the block succeeds.

    ``suffix`` keeps writers that infer a format from the name (SimpleITK, numpy) working.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if exc.filename is None:  # numpy's short writes name neither the file nor the cause
            raise OSError(
                exc.errno,
                exc.strerror
                or f"only part of the data was written ({exc}): the disk is "
                "full or a file size limit was reached",
                str(target),
            ) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def sweep_leftovers(*folders: str | Path) -> int:
    """Delete the '.tmp-*' files and staging folders a killed run left under ``folders``; returns
    how many. Call it when a step starts, before anything of its own is being written there."""
    removed = 0
    for folder in map(Path, folders):
        for leftover in list(folder.rglob(".tmp-*")) if folder.is_dir() else []:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists():
                leftover.unlink(missing_ok=True)
            else:
                continue  # inside a staging folder removed above
            removed += 1
    return removed


def write_bytes(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, obj: Any, unless_equal: bool = False) -> Path:
    """Write ``obj`` as JSON; with ``unless_equal``, leave an identical existing file untouched (mtime kept)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    path = Path(target)
    if unless_equal and path.is_file() and path.read_text() == text:
        return path
    return write_text(path, text)


def write_with(target: str | Path, writer: Callable[[Path], None], suffix: str = "") -> Path:
    """Atomically write ``target`` with a function that writes to a given path."""
    with atomic_path(target, suffix=suffix) as tmp:
        writer(tmp)
    return Path(target)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def replace_dir(built: Path, target: Path) -> Path:
    """Swap a fully built folder in for ``target``.

    Two renames, so a kill between them leaves the old folder under '.old-*' and no half-built
    target; the builder writes into a '.tmp-*' sibling that a rerun simply rebuilds.
    """
    import shutil

    target = Path(target)
    old = target.with_name(f".old-{target.name}")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    if old.exists():
        shutil.rmtree(old)
    return target


def fresh_build_dir(target: Path) -> Path:
    """An empty '.tmp-<name>' folder beside ``target`` to build it in (leftovers of a kill removed)."""
    import shutil

    build = Path(target).with_name(f".tmp-{Path(target).name}")
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    return build
