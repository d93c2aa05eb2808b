"""Each step killed with SIGKILL (its whole process group) early, in the middle and while writing a
file, then rerun: the outputs equal an uninterrupted run's and no partial or temp file is left.

One copy of the tiny project per step takes the three kills in a row and then the rerun; the
uninterrupted reference is the session's tiny project (ingest, preprocess, evaluate, export) or a
straight subprocess run (training, where resuming is what is tested)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medimg.config.variants import VARIANTS, variant_files
from medimg.deploy.bundle import BUNDLE_FILE
from medimg.train.checkpoint import load_checkpoint
from tests.conftest import REPO
from tests.reliability.record import record

pytestmark = pytest.mark.slow  # see tests/conftest.py: left out of the fast loop

QUIET = ["--set", "tracking.enabled=false"]  # no MLflow writes into the shared tiny store


def start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "medimg", "run", *args, *QUIET],
        cwd=root,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"},
    )


def kill_when(
    root: Path, args: tuple[str, ...], condition: Callable[[], bool], timeout_s: float = 300
) -> bool:
    """Run the step and SIGKILL its process group the moment ``condition`` holds. False if it ended first."""
    proc = start(root, *args)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return True
        time.sleep(0.002)
    proc.communicate()
    return False


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".tmp-")]


def kill_three_times_then_finish(
    root: Path, args: tuple[str, ...], folder: Path, middle: Callable[[], bool]
) -> dict:
    """Kill early, in the middle and while a temp file is open in ``folder``; then run to the end."""
    began = time.monotonic()
    kills = {
        "early": kill_when(root, args, lambda: time.monotonic() - began > 0.3 or folder.exists()),
        "middle": kill_when(root, args, middle),
        "writing": kill_when(root, args, lambda: bool(temp_files(folder))),
    }
    done = start(root, *args)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err[-3000:]
    assert not temp_files(folder), "a temp file was left behind"
    return kills


def recovered(step: str, kills: dict) -> None:
    """Note the kills that happened (a step can end before a point is reached); call after the checks."""
    record(
        "kill",
        step=step,
        injected=sum(kills.values()),
        recovered=sum(kills.values()),
        points=[point for point, hit in kills.items() if hit],
    )


def copy_project(tiny_root: Path, target: Path, without: list[str]) -> Path:
    """The tiny project without ``without`` (relative folders), salt and raw data included."""
    shutil.copytree(
        tiny_root,
        target,
        symlinks=True,
        ignore=shutil.ignore_patterns("mlruns", "*.db", "models_*"),
    )
    for name in without:
        shutil.rmtree(target / name, ignore_errors=True)
    return target


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_ingest_killed_three_times_ends_with_the_uninterrupted_manifest(tiny, ingested, tmp_path):
    reference = tiny[1]
    root = copy_project(
        reference.root,
        tmp_path / "p",
        ["data/interim", "data/processed", "models", "reports", "artifacts"],
    )
    interim = root / "data/interim"

    def volumes():
        return (
            len(list((interim / "volumes").glob("*.nii.gz")))
            if (interim / "volumes").exists()
            else 0
        )

    kills = kill_three_times_then_finish(root, ("ingest",), interim, lambda: volumes() >= 4)
    assert kills["middle"], kills
    pd.testing.assert_frame_equal(
        pd.read_parquet(interim / "manifest.parquet"), pd.read_parquet(reference.manifest)
    )
    assert sorted(p.name for p in (interim / "volumes").iterdir()) == sorted(
        p.name for p in (reference.interim / "volumes").iterdir()
    )
    recovered("ingest", kills)


def test_preprocess_killed_three_times_ends_with_the_same_cache_byte_for_byte(
    tiny, preprocessed, tmp_path
):
    reference = tiny[1]
    root = copy_project(
        reference.root, tmp_path / "p", ["data/processed", "models", "reports", "artifacts"]
    )
    processed = root / "data/processed"

    def cached():
        return (
            len(list((processed / "cache").glob("*.npy"))) if (processed / "cache").exists() else 0
        )

    kills = kill_three_times_then_finish(root, ("preprocess",), processed, lambda: cached() >= 6)
    assert kills["middle"], kills
    pd.testing.assert_frame_equal(
        pd.read_parquet(processed / "index.parquet"), pd.read_parquet(reference.index)
    )
    assert digests(processed / "cache") == digests(reference.cache)
    recovered("preprocess", kills)


TRAIN = (
    "train",
    "--stage",
    "freeze",
    "--set",
    "train.stages[0].epochs=4",
    "--set",
    "train.stages[0].trainable=all",
    "--set",
    "train.stages[0].lr_backbone=0.001",
)


def test_training_killed_three_times_resumes_to_the_uninterrupted_weights(
    tiny, preprocessed, tmp_path
):
    reference = tiny[1]
    straight = copy_project(
        reference.root, tmp_path / "straight", ["models", "reports", "artifacts"]
    )
    done = start(straight, *TRAIN)
    assert done.wait(timeout=600) == 0, done.stderr.read()[-3000:]
    root = copy_project(reference.root, tmp_path / "p", ["models", "reports", "artifacts"])
    stage = root / "models/freeze"
    kills = kill_three_times_then_finish(root, TRAIN, stage, lambda: (stage / "last.pt").exists())
    assert kills["middle"] and kills["writing"], kills
    a, b = (load_checkpoint(r / "models/freeze/ckpt.pt") for r in (straight, root))
    assert a["epoch"] == b["epoch"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    recovered("train", kills)


def test_evaluate_killed_three_times_writes_the_uninterrupted_figures(tiny, evaluated, tmp_path):
    reference = tiny[1]
    root = copy_project(reference.root, tmp_path / "p", ["reports", "artifacts"])
    reports = root / "reports"
    kills = kill_three_times_then_finish(
        root, ("evaluate",), reports, lambda: (reports / "figures").exists()
    )
    assert kills["early"], kills
    assert json.loads((reports / "metrics.json").read_text()) == json.loads(
        (reference.reports / "metrics.json").read_text()
    )
    ours, theirs = (
        pd.read_parquet(r / "predictions.parquet") for r in (reports, reference.reports)
    )
    pd.testing.assert_frame_equal(ours, theirs)
    recovered("evaluate", kills)


@pytest.mark.filterwarnings("ignore")
def test_export_killed_three_times_writes_the_uninterrupted_models(tiny, exported, tmp_path):
    reference = tiny[1]
    root = copy_project(reference.root, tmp_path / "p", ["artifacts"])
    artifacts = root / "artifacts"
    kills = kill_three_times_then_finish(
        root, ("export",), artifacts, lambda: (artifacts / "model.onnx").exists()
    )
    assert kills["middle"], kills
    for name in [f for variant in VARIANTS for f in variant_files(variant)]:
        assert (artifacts / name).read_bytes() == (reference.artifacts / name).read_bytes(), name
    assert (artifacts / BUNDLE_FILE).read_bytes() == (
        reference.artifacts / BUNDLE_FILE
    ).read_bytes()
    report = json.loads((artifacts / "export_report.json").read_text())
    assert (
        report["quality"]
        == json.loads((reference.artifacts / "export_report.json").read_text())["quality"]
    )
    assert np.isfinite(report["parity"]["max_abs_diff"])
    recovered("export", kills)
