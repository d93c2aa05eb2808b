"""Shared fixtures: one tiny real project (DICOM written by pydicom), built step by step once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]


def tiny_params(root: Path) -> dict:
    """The repo's params.yaml shrunk to seconds: 12 series of ~32³, a narrow net, one epoch per stage."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
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


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(params, paths) of a tiny project with nothing run yet."""
    from medimg.config.loading import load_params
    from medimg.io.paths import ProjectPaths

    root = tmp_path_factory.mktemp("tiny")
    params = load_params(write_tiny_params(root))
    return params, ProjectPaths.from_params(params, root)


@pytest.fixture(scope="session")
def demo_raw(tiny):
    from tasks.demo_data import run_demo_data

    params, paths = tiny
    return run_demo_data(params, paths)


@pytest.fixture(scope="session")
def ingested(tiny, demo_raw):
    from tasks.ingest import run_ingest

    return run_ingest(*tiny)


@pytest.fixture(scope="session")
def preprocessed(tiny, ingested):
    from tasks.preprocess import run_preprocess

    return run_preprocess(*tiny)


@pytest.fixture(scope="session")
def trained(tiny, preprocessed):
    from tasks.train import run_train

    params, paths = tiny
    return {s.name: run_train(params, paths, s.name) for s in params.train.stages}


@pytest.fixture(scope="session")
def evaluated(tiny, trained):
    from tasks.evaluate import run_evaluate

    return run_evaluate(*tiny)


@pytest.fixture(scope="session")
def exported(tiny, evaluated):
    from tasks.export import run_export

    return run_export(*tiny)


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
