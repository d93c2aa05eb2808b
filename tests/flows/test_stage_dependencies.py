"""dvc.yaml cannot go stale: each stage depends on the code its step really runs.

The step registry (medimg/pipeline/steps.py) names each step's code; dvc.yaml must list exactly that, and
that must cover the step's real import closure: every project file in ``sys.modules`` after importing
the CLI and the step's module in a fresh interpreter, plus the imports made inside functions (read
statically by grimp, which import-linter uses), since a step imports some modules only when it runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

from medimg.config.variants import VARIANTS, variant_files
from medimg.deploy.bundle import BUNDLE_FILE
from medimg.pipeline.steps import STEPS, code_files, stage_code_digest, step
from tests.conftest import REPO

PROJECT_PACKAGES = ("medimg", "tasks", "flows")
PROBE = (
    "import importlib, json, sys; import medimg.cli; importlib.import_module(sys.argv[1]); "
    "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))"
)


def dvc_stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def stage_names(name: str) -> list[str]:
    stages = [
        s["name"] for s in yaml.safe_load((REPO / "params.yaml").read_text())["train"]["stages"]
    ]
    return step(name).stage_names(stages)


def code_deps(stage: dict) -> list[str]:
    """A dvc.yaml stage's code dependencies (its data deps are ${...} paths)."""
    return [d for d in stage["deps"] if not d.startswith("${")]


def module_file(module: str) -> Path:
    path = REPO / module.replace(".", "/")
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@pytest.fixture(scope="module")
def import_graph():
    return grimp.build_graph(*PROJECT_PACKAGES[:2])


def import_closure(module: str, graph) -> set[str]:
    """Repo-relative paths of every project file that running ``medimg run`` for ``module`` imports."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    loaded = {Path(f).resolve() for f in json.loads(out) if f and Path(f).is_absolute()}
    loaded |= {module_file(m) for m in graph.find_upstream_modules(module) | {module}}
    return {
        str(f.relative_to(REPO))
        for f in loaded
        if f.is_relative_to(REPO) and f.relative_to(REPO).parts[0] in PROJECT_PACKAGES
    }


def uncovered(closure: set[str], deps: list[str]) -> list[str]:
    """Files of ``closure`` that no entry of ``deps`` (a file, or a folder holding it) covers."""
    covered = {str(f.relative_to(REPO)) for f in code_files(tuple(deps), REPO)}
    return sorted(closure - covered)


@pytest.mark.parametrize("name", [s.name for s in STEPS])
def test_dvc_yaml_lists_the_code_and_params_the_registry_names(name):
    stages = dvc_stages()
    for stage in stage_names(name):
        assert stage in stages, f"dvc.yaml has no stage {stage} for step {name}"
        assert sorted(code_deps(stages[stage])) == sorted(step(name).deps), (
            f"dvc.yaml {stage}: code deps"
        )
        assert sorted(stages[stage]["params"]) == sorted(step(name).params), (
            f"dvc.yaml {stage}: params"
        )
        assert stages[stage]["cmd"].startswith(f"medimg run {name}")


def test_every_dvc_stage_is_a_registered_step():
    registered = {stage for s in STEPS for stage in stage_names(s.name)}
    assert set(dvc_stages()) == registered


def test_the_export_stage_outputs_every_variant_file_the_variant_table_names():
    outs = {o if isinstance(o, str) else next(iter(o)) for o in dvc_stages()["export"]["outs"]}
    files = {f"${{data.artifacts_dir}}/{f}" for v in VARIANTS for f in variant_files(v)}
    reports = {BUNDLE_FILE, "export_report.json"}
    assert outs == files | {f"${{data.artifacts_dir}}/{name}" for name in reports}


@pytest.mark.parametrize("name", [s.name for s in STEPS])
def test_each_stage_covers_every_file_its_step_imports(name, import_graph):
    closure = import_closure(step(name).entry.split(":")[0], import_graph)
    assert f"tasks/{name.replace('-', '_')}.py" in closure and "medimg/cli.py" in closure
    for stage in stage_names(name):
        missing = uncovered(closure, code_deps(dvc_stages()[stage]))
        assert not missing, f"dvc.yaml stage {stage} does not depend on {missing}, which it imports"


def test_the_check_names_the_file_when_a_dependency_is_dropped(import_graph):
    closure = import_closure("tasks.export", import_graph)
    deps = [d for d in code_deps(dvc_stages()["export"]) if d != "medimg/export"]
    missing = uncovered(closure, deps)
    assert "medimg/export/onnx_model.py" in missing and "medimg/export/quantization.py" in missing


def test_the_resume_fingerprint_follows_every_file_the_train_stage_depends_on(tmp_path):
    for entry in step("train").deps:
        source = REPO / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / entry)
    before = stage_code_digest("train", tmp_path)
    assert stage_code_digest("train", tmp_path) == before
    for edited in (
        "medimg/deploy/sliding_window.py",
        "medimg/config/training.py",
        "medimg/train/loop.py",
    ):
        target = tmp_path / edited
        original = target.read_text()
        target.write_text(original + "\n# edited\n")
        assert stage_code_digest("train", tmp_path) != before, edited
        target.write_text(original)


def test_the_library_root_holds_only_the_entry_points():
    assert sorted(p.name for p in (REPO / "medimg").glob("*.py")) == [
        "__init__.py",
        "__main__.py",
        "cli.py",
        "cli_parser.py",  # the command line's grammar, split from what the commands do
    ]
