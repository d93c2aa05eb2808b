"""A hash of the code a function really runs, so cached work is redone whenever that code changes.

A hand-bumped version number is forgotten the day a transform is edited, and the old tensors are then
reused silently. Instead, a cache key takes the digest of a module and of every ``medimg`` module it
imports, directly or not (found by reading the sources, lazy imports inside functions included).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "medimg"
# the folder that holds the medimg package: a copy of the repo digests its own files, not the installed ones
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def module_file(name: str, root: Path) -> Path | None:
    """The source of module ``name`` under ``root`` (a package's ``__init__.py``), or None when
    ``name`` is not a module (``from medimg.io.atomic import write_json`` names a function)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(source: Path) -> set[str]:
    """Every ``medimg`` module name ``source`` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def _with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def module_closure(modules: tuple[str, ...], root: Path = SOURCE_ROOT) -> list[Path]:
    """The source files of ``modules`` and of every medimg module they import, transitively."""
    seen: dict[str, Path] = {}
    pending = [m for name in modules for m in _with_parents(name)]
    while pending:
        name = pending.pop()
        if name in seen or (path := module_file(name, root)) is None:
            continue
        seen[name] = path
        pending.extend(m for n in _imported_names(path) for m in _with_parents(n))
    return sorted(set(seen.values()))


def code_digest(modules: tuple[str, ...], root: Path = SOURCE_ROOT) -> str:
    """16 hex digits that change when any file in ``module_closure(modules)`` under ``root`` changes."""
    digest = hashlib.sha256()
    for path in module_closure(modules, root):
        digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def running_code_digest(modules: tuple[str, ...]) -> str:
    """``code_digest`` of the sources this process imported ``modules`` from, read once: the code it
    runs is the code it loaded, however long it lives (a served flow, a test session)."""
    return code_digest(modules, SOURCE_ROOT)
