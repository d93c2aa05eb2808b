"""Shared fixtures: one tiny real project (DICOM written by pydicom), built step by step once per test
run and copied into each xdist worker."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

# xdist runs one worker per core: a worker's torch/OpenMP (and the `dvc repro` stages it starts,
# which inherit the variable) must then use its share of the cores, or the workers' thread pools
# fight for them and every test takes about twice as long
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]


def new_user_environ(*drop_prefixes: str) -> dict[str, str]:
    """This process's environment as a new user's shell has it: none of the analytics switches the
    entry points set themselves (medimg.io.quiet), nor a variable starting with ``drop_prefixes``."""
    from medimg.io.quiet import OFFLINE_DEFAULTS

    return {
        k: v
        for k, v in os.environ.items()
        if k not in OFFLINE_DEFAULTS and not k.startswith(drop_prefixes)
    }


@pytest.fixture(autouse=True)
def _mlflow_uri_left_as_found():
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; left set, it would send the runs of a later
    test's subprocesses (a Prefect worker, `dvc repro`) to an earlier test's store."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


# the workload the shared fixtures run, whichever preset `medimg params use` left params.yaml on
FIXTURE_PRESET = "ct-nodule-cls"


def tiny_params(root: Path, source: Path = REPO / "params.yaml") -> dict:
    """``source`` (the repo's params.yaml) on the default workload, shrunk to seconds: 12 series of
    ~32³, a narrow net, one epoch per stage."""
    from medimg.config.presets import load_preset, merge_into

    raw = yaml.safe_load(source.read_text())
    preset = json.loads(json.dumps(load_preset(FIXTURE_PRESET)))  # plain types, for safe_dump
    merge_into(raw, preset)  # every preset sets the same keys
    raw["demo"]["ct_nodule"] = {
        "patients": 10,
        "series": 12,
        "positive_fraction": 0.5,
        "slices": {"min": 30, "max": 34},
        "matrix": 32,
        "pixel_spacing_mm": {"min": 8.0, "max": 9.0},
        "slice_spacing_mm": {"min": 6.0, "max": 8.0},
        "nodule_diameter_mm": {"min": 16.0, "max": 24.0},
    }
    raw["demo"]["fundus_dr"] = {"patients": 2, "size": 64}
    raw["split"]["ratios"] = {"train": 0.5, "val": 0.25, "test": 0.25}
    raw["split"]["folds"] = (
        1  # 10 patients: one train/val split (tests/tasks/test_kfold.py runs folds)
    )
    raw["preprocess"]["target_shape"] = [32, 32, 32]
    raw["model"].update(width=4, head_hidden=16)
    raw["train"]["batch_size"] = 4
    for stage in raw["train"]["stages"]:
        stage["epochs"] = 1
    raw["evaluate"]["bootstrap"]["resamples"] = 200
    raw["tracking"]["uri"] = f"sqlite:///{root / 'mlflow.db'}"
    return raw


def write_tiny_params(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(root), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect server (SQLite) shared by every flow test: starting one costs seconds."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _step_runners():
    from tasks.demo_data import run_demo_data
    from tasks.evaluate import run_evaluate
    from tasks.export import run_export
    from tasks.ingest import run_ingest
    from tasks.preprocess import run_preprocess
    from tasks.train import run_train

    def train_all(params, paths):
        return {s.name: run_train(params, paths, s.name) for s in params.train.stages}

    return {
        "demo_raw": run_demo_data,
        "ingested": run_ingest,
        "preprocessed": run_preprocess,
        "trained": train_all,
        "evaluated": run_evaluate,
        "exported": run_export,
    }


# the tiny project's steps in pipeline order, each a session fixture of the same name
CHAIN = ("demo_raw", "ingested", "preprocessed", "trained", "evaluated", "exported")


def _load(root: Path):
    from medimg.config.loading import load_params
    from medimg.config.paths import ProjectPaths

    params = load_params(root / "params.yaml")
    return params, ProjectPaths.from_params(params, root)


@pytest.fixture(scope="session")
def shared_tiny(tmp_path_factory, worker_id) -> Path:
    """Where the tiny project is built once per test run, for every xdist worker."""
    base = tmp_path_factory.getbasetemp()
    return (base if worker_id == "master" else base.parent) / "tiny-shared"


def build_shared(shared: Path, stage: str, into: Path) -> dict:
    """Run the tiny project's chain up to ``stage`` in ``shared``, each step once per test run
    (whichever worker asks first, under a file lock), and copy the project into ``into``; returns
    that step's result. The copy is made under the lock too, so it never catches another worker's
    half-built step (a SQLite store mid-write)."""
    from filelock import FileLock

    with FileLock(f"{shared}.lock"):
        if not (shared / "params.yaml").exists():
            write_tiny_params(shared)
        params, paths = _load(shared)
        runners = _step_runners()
        for name in CHAIN[: CHAIN.index(stage) + 1]:
            done = shared.parent / f"{shared.name}.{name}.json"
            if not done.exists():
                result = runners[name](params, paths)
                done.write_text(json.dumps(result, default=str))
        copy_shared(shared, into)
        return json.loads(done.read_text())


def copy_shared(shared: Path, root: Path) -> None:
    """The shared project's files into this worker's own copy, whose params.yaml (and so MLflow
    store) stays its own: tests that write into the project never race another worker."""
    shutil.copytree(
        shared,
        root,
        dirs_exist_ok=True,
        ignore=lambda folder, names: ["params.yaml"] if Path(folder) == shared else [],
    )


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(params, paths) of this worker's tiny project; the step fixtures fill it."""
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_params(root)
    return _load(root)


def _step_fixture(stage: str):
    @pytest.fixture(scope="session", name=stage)
    def fixture(tiny, shared_tiny, request):
        previous = CHAIN.index(stage) - 1
        if previous >= 0:
            request.getfixturevalue(CHAIN[previous])  # in order, as the pipeline runs them
        return build_shared(shared_tiny, stage, tiny[1].root)

    return fixture


demo_raw, ingested, preprocessed, trained, evaluated, exported = (
    _step_fixture(stage) for stage in CHAIN
)


BLOCK_TORCH = (
    "import sys; sys.modules['torch'] = None; from medimg.cli import main; sys.exit(main())"
)


def predict_without_torch(source: Path, bundle: Path, *extra: str):
    """`medimg predict` in a subprocess where importing torch fails, as on a deployment machine.

    Without ``--out`` its files (masks, DICOM SEG/SR with the source's identifiers) go to a fresh
    temporary folder, never into the working tree."""
    import subprocess
    import sys
    import tempfile

    if "--out" not in extra:
        extra = (*extra, "--out", tempfile.mkdtemp(prefix="medimg-predict-"))
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "predict", str(source), "--model", str(bundle), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


# `pytest -m "not slow"` is the fast loop: what runs the whole pipeline, a real server or a DVC
# project is slow, and so is every test that needs the tiny project trained
SLOW_FIXTURES = {"trained", "evaluated", "exported", "prefect_server"}
SLOW_FOLDERS = ("flows", "pacs", "reference")


def pytest_collection_modifyitems(items):
    for item in items:
        folder = Path(item.fspath).relative_to(REPO / "tests").parts[0]
        if SLOW_FIXTURES & set(item.fixturenames) or folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
