"""The code digest follows every medimg module a function runs, so a cache keyed on it goes stale
whenever that code changes, and only then."""

import json
import os
import shutil
import subprocess
import sys

from medimg.io.code_digest import code_digest, module_closure
from tests.conftest import REPO


def _copy_library(tmp_path):
    shutil.copytree(
        REPO / "medimg", tmp_path / "medimg", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_the_closure_holds_what_the_recipe_imports_directly_lazily_and_through_packages():
    files = {
        p.relative_to(REPO).as_posix() for p in module_closure(("medimg.preprocess.recipes",), REPO)
    }
    assert {
        "medimg/__init__.py",
        "medimg/preprocess/__init__.py",
        "medimg/preprocess/recipes.py",
        "medimg/preprocess/transforms/intensity.py",  # imported by name from its package
        "medimg/preprocess/transforms/photo.py",  # `from ...transforms import photo`
        "medimg/config/schema.py",
    } <= files
    assert not any(f.startswith(("medimg/train", "medimg/export", "medimg/models")) for f in files)


def test_editing_any_file_of_the_closure_changes_the_digest_and_others_do_not(tmp_path):
    root = _copy_library(tmp_path)
    modules = ("medimg.preprocess.recipes",)
    before = code_digest(modules, root)
    transform = root / "medimg/preprocess/transforms/intensity.py"
    transform.write_text(transform.read_text() + "\n# edited\n")
    edited = code_digest(modules, root)
    assert edited != before
    unrelated = root / "medimg/train/loop.py"
    unrelated.write_text(unrelated.read_text() + "\n# edited\n")
    assert code_digest(modules, root) == edited


def test_editing_a_transform_recomputes_every_tensor(tmp_path, tiny, ingested):
    """In a copy of the repository, as a developer edits it: preprocess once, rerun (nothing is
    recomputed), edit a transform without touching anything else, rerun: every tensor is recomputed."""
    params, paths = tiny
    repo = _copy_library(tmp_path / "repo")
    shutil.copytree(REPO / "tasks", repo / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    project = tmp_path / "project"
    shutil.copytree(paths.interim, project / params.data.interim_dir)
    shutil.copy2(paths.root / "params.yaml", project / "params.yaml")

    def preprocess() -> dict:
        code = (
            "import sys, medimg; from medimg.cli import main; "
            "assert medimg.__file__.startswith(sys.argv[1]), medimg.__file__; "
            "sys.exit(main(['run', 'preprocess']))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(repo)],
            cwd=project,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(repo), "TQDM_DISABLE": "1"},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout[: done.stdout.rindex("}") + 1])

    first = preprocess()
    assert first["computed"] == first["items"] > 0
    assert preprocess()["computed"] == 0
    transform = repo / "medimg/preprocess/transforms/intensity.py"
    transform.write_text(transform.read_text() + "\n# a changed transform\n")
    edited = preprocess()
    assert edited["computed"] == first["items"] and edited["reused"] == 0
