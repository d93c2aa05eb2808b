"""Keep the last good run's outputs aside while a new run may overwrite them, and put them back if it fails.

Copies, not hard links: onnxruntime's quantizer and some writers fill their output file in place,
which would change a hard-linked "copy" too.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def take_snapshot(root: Path, members: list[str], store: Path) -> Path:
    """Copy ``members`` (files or folders relative to ``root``; missing ones are noted as absent)
    into ``store``, replacing an older snapshot there. Returns ``store``."""
    root, store = Path(root), Path(store)
    staging = store.with_name(store.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    absent = []
    for member in members:
        source, target = root / member, staging / member
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif source.exists():
            shutil.copy2(source, target)
        else:
            absent.append(member)
    (staging / ".absent").write_text("\n".join(absent))
    shutil.rmtree(store, ignore_errors=True)
    staging.rename(store)  # a snapshot is either complete or not there
    return store


def restore_snapshot(root: Path, members: list[str], store: Path) -> None:
    """Make every member under ``root`` exactly what ``store`` holds: written by the failed run or
    not, each is replaced; one the snapshot noted as absent is removed."""
    root, store = Path(root), Path(store)
    absent = set(filter(None, (store / ".absent").read_text().splitlines()))
    for member in members:
        current, kept = root / member, store / member
        if current.is_dir() and not current.is_symlink():
            shutil.rmtree(current)
        elif current.exists() or current.is_symlink():
            current.unlink()
        if member in absent:
            continue
        current.parent.mkdir(parents=True, exist_ok=True)
        if kept.is_dir():
            shutil.copytree(kept, current, symlinks=True)
        else:
            shutil.copy2(kept, current)
