"""Ingest reruns: unchanged items are reused untouched, new or changed ones converted, removed ones pruned."""

import shutil

import pandas as pd
import pydicom

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.tree import ingest_tree
from tests.tasks.test_ingest import series_folders

SALT = b"incremental-salt-0123456789"


def _ingest(raw, out):
    data = DataParams(label_column="nodule")
    return ingest_tree(
        raw,
        out,
        SALT,
        data,
        SplitParams(ratios={"train": 0.5, "val": 0.25, "test": 0.25}),
        IngestParams(workers=1),
    )


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_rerun_add_change_and_remove(tmp_path, tiny, demo_raw):
    _, paths = tiny
    folders = series_folders(paths.raw)
    raw, out = tmp_path / "raw", tmp_path / "out"
    for i, folder in enumerate(folders[:3]):
        shutil.copytree(folder, raw / f"s{i}")
    shutil.copy(paths.raw / "labels.csv", raw / "labels.csv")
    assert _ingest(raw, out)["run"] == {"converted": 3, "reused": 0, "pruned_files": 0}
    before = _mtimes(out)
    splits = pd.read_parquet(out / "manifest.parquet").set_index("series_key")["split"]

    assert _ingest(raw, out)["run"] == {"converted": 0, "reused": 3, "pruned_files": 0}
    assert _mtimes(out) == before, "an unchanged rerun rewrites nothing"

    shutil.copytree(folders[3], raw / "s3")
    assert _ingest(raw, out)["run"] == {"converted": 1, "reused": 3, "pruned_files": 0}
    after_add = _mtimes(out)
    assert all(
        after_add[name] == stamp for name, stamp in before.items() if name.endswith(".nii.gz")
    )
    grown = pd.read_parquet(out / "manifest.parquet").set_index("series_key")["split"]
    assert splits.notna().all() and (grown[splits.index] == splits).all(), (
        "earlier patients keep their split"
    )

    files = sorted(
        (raw / "s1").iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    files[0].unlink()  # an end slice removed: still a clean series, one slice shorter
    summary = _ingest(raw, out)
    assert summary["run"]["converted"] == 1 and summary["run"]["reused"] == 3
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert sorted(manifest["n_files"]) == sorted(
        [len(list((raw / f"s{i}").iterdir())) for i in range(4)]
    )

    shutil.rmtree(raw / "s2")
    summary = _ingest(raw, out)
    assert summary["items"] == 3 and summary["run"]["pruned_files"] == 1
    assert (
        len(summary["label_rows_matching_no_image"]) == 12 - 3
    )  # reported by labels.csv line number
    assert len(list((out / "volumes").iterdir())) == 3
