"""The pipeline's steps, declared once: name, run function, the params they read and the code they run.

The CLI (`medimg run NAME`), the Prefect flow and the test that holds dvc.yaml to the code all read this
table. Each run function lives in ``tasks/`` and is named here as ``module:function``: the library sits
below the tasks and never imports them, so the CLI resolves the entry the way console scripts are
resolved, at call time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medimg.io.digest import file_digest, settings_fingerprint

# what every step runs whatever it does: the CLI that dvc.yaml calls, params, paths and files
SHARED_CODE = (
    "medimg/__init__.py",
    "medimg/cli.py",
    "medimg/cli_parser.py",
    "medimg/config",
    "medimg/io",
    "medimg/pipeline",
)


@dataclass(frozen=True)
class Step:
    name: str  # `medimg run NAME`; its dvc.yaml stage is NAME with _ for -
    entry: str  # "module:function" of run_<step>(params, paths, ...)
    params: tuple[str, ...]  # the params keys it reads: dvc.yaml lists exactly these
    code: tuple[str, ...]  # its own code, beyond SHARED_CODE (repo-relative files or folders)
    per_stage: bool = False  # one dvc.yaml stage per entry of train.stages
    fans_out: bool = (
        False  # takes map_items: its per-item (per-fold) work can run on the flow's task runner
    )

    @property
    def deps(self) -> tuple[str, ...]:
        """Every code path the step's dvc.yaml stage depends on: the shared code, its own, and the
        ``__init__.py`` of each package a listed file or folder sits in (importing it runs them)."""
        listed = SHARED_CODE + self.code
        inits = {
            f"{parent.as_posix()}/__init__.py"
            for entry in listed
            for parent in Path(entry).parents
            if parent != Path(".")
        }
        return tuple(
            sorted(entry for entry in set(listed) | inits if not _inside_any(entry, listed))
        )

    def stage_names(self, stages: list[str]) -> list[str]:
        """Its dvc.yaml stage names, given the names in train.stages."""
        base = self.name.replace("-", "_")
        return [f"{base}_{stage}" for stage in stages] if self.per_stage else [base]

    def load(self) -> Callable[..., dict]:
        module, function = self.entry.split(":")
        return getattr(importlib.import_module(module), function)


DATA_KEYS = (
    "data.raw_dir",
    "data.interim_dir",
    "data.labels_csv",
    "data.label_join",
    "data.patient_column",
    "data.label_column",
    "data.mask_column",
    "data.layout",
)
# what a step after the plan runs to read it (plan: auto)
PLAN_READING_CODE = ("medimg/plan/applying.py", "medimg/plan/proposal.py")
TRAINING_CODE = (
    "medimg/models",
    "medimg/train",
    "medimg/metrics",
    "medimg/tracking",
    "medimg/deploy/sliding_window.py",
    "tasks/train.py",
    *PLAN_READING_CODE,
)

STEPS: tuple[Step, ...] = (
    Step(
        "demo-data",
        "tasks.demo_data:run_demo_data",
        ("demo",),
        ("medimg/demo", "tasks/demo_data.py"),
    ),
    Step(
        "ingest",
        "tasks.ingest:run_ingest",
        (*DATA_KEYS, "ingest", "split"),
        ("medimg/ingest", "tasks/ingest.py"),
        fans_out=True,
    ),
    Step(
        "plan",
        "tasks.plan:run_plan",
        # a U-Net's compute budget times the network training will run, augmentation included
        ("augment", "loss", "model", "plan", "sampling", "split.folds", "train"),
        (
            "medimg/ingest/manifest.py",
            "medimg/plan",
            "medimg/models",
            "medimg/train",
            "medimg/metrics",
            "medimg/deploy/sliding_window.py",
            "tasks/plan.py",
        ),
    ),
    Step(
        "preprocess",
        "tasks.preprocess:run_preprocess",
        ("data.processed_dir", "model.name", "plan", "preprocess"),
        (
            "medimg/ingest/manifest.py",
            "medimg/preprocess",
            "tasks/preprocess.py",
            *PLAN_READING_CODE,
        ),
        fans_out=True,
    ),
    Step(
        "train",
        "tasks.train:run_train",
        ("augment", "loss", "model", "plan", "sampling", "split.folds", "train"),
        TRAINING_CODE,
        per_stage=True,
        fans_out=True,  # with split.folds > 1, one task per fold
    ),
    Step(
        "evaluate",
        "tasks.evaluate:run_evaluate",
        ("data.class_names", "evaluate", "model", "plan", "sampling", "split.folds"),
        (
            "medimg/evaluate",
            "medimg/ingest/manifest.py",
            "medimg/ingest/splits.py",
            "medimg/metrics",
            "medimg/tracking",
            "medimg/models",
            "medimg/train",
            "medimg/deploy/sliding_window.py",
            "medimg/deploy/postprocess.py",
            "tasks/evaluate.py",
            *PLAN_READING_CODE,
        ),
    ),
    Step(
        "export",
        "tasks.export:run_export",
        (
            "data.class_names",
            "evaluate.target_sensitivity",
            "evaluate.threshold",
            "evaluate.tta",
            "export",
            "ingest.geometry",
            "model",
            "plan",
            "preprocess",
            "results",
            "sampling",
            "split.folds",
        ),
        (
            "medimg/deploy",
            "medimg/metrics",
            "medimg/export",
            "medimg/evaluate/postprocessing.py",
            "medimg/tracking",
            "medimg/ingest/dicom",
            "medimg/models",
            "medimg/preprocess",
            "medimg/train",
            "tasks/export.py",
            *PLAN_READING_CODE,
        ),
    ),
)
STEP_NAMES = tuple(step.name for step in STEPS)


def _inside_any(entry: str, folders: tuple[str, ...]) -> bool:
    return any(entry != folder and entry.startswith(folder + "/") for folder in folders)


def step(name: str) -> Step:
    return next(s for s in STEPS if s.name == name)


def reads_plan(name: str) -> bool:
    """Whether the step runs after the plan, and so takes its values under ``plan: auto``."""
    return STEP_NAMES.index(name) > STEP_NAMES.index("plan")


def code_files(paths: tuple[str, ...], root: Path) -> list[Path]:
    """The Python files under ``paths`` (files or folders, relative to ``root``)."""
    found = set()
    for entry in paths:
        target = root / entry
        found.update([target] if target.is_file() else target.rglob("*.py"))
    return sorted(found)


def stage_code_digest(name: str, root: Path) -> str:
    """A hash of every file the step's dvc.yaml stage depends on: the same list, not a copy of it."""
    return settings_fingerprint(
        {str(f.relative_to(root)): file_digest(f) for f in code_files(step(name).deps, root)}
    )
