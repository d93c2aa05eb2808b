"""The manifest contract: one row per series or 2D image, quarantined rows included.

No column may hold a clear DICOM identifier; keys are salted pseudonyms (see medimg.ingest.deid).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medimg.io import atomic
from medimg.io.problems import InputError, MissingInput

COLUMNS = [
    "patient_key",
    "study_key",
    "series_key",
    "modality",
    "manufacturer",
    "ndim",
    "shape",
    "spacing",
    "origin",
    "direction",
    "channels",
    "units",
    "n_files",
    "volume_path",
    "mask_path",
    "checksum",
    "label",
    "split",
    "split_source",  # labels.csv (an official split, kept as given) or assigned (by patient, stratified)
    "status",
    "reason_code",
    "reason",
    "fixes",
    "source_fingerprint",
]


def write_parquet(frame: pd.DataFrame, target: str | Path) -> Path:
    return atomic.write_with(
        target, lambda tmp: frame.to_parquet(tmp, index=False), suffix=".parquet"
    )


def write_manifest(
    rows: list[dict], target: str | Path, unless_equal: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Write the rows as the manifest, sorted by key; skip the write if ``unless_equal`` holds the same rows."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["label"] = frame["label"].astype("Int64")
    frame["ndim"] = frame["ndim"].astype("Int64")
    frame["channels"] = frame["channels"].astype("Int64")
    frame = frame.sort_values("series_key", kind="stable").reset_index(drop=True)
    if unless_equal is None or not _same_rows(frame, unless_equal):
        write_parquet(frame, target)
    return frame


def _same_rows(frame: pd.DataFrame, other: pd.DataFrame) -> bool:
    if list(frame.columns) != list(other.columns) or len(frame) != len(other):
        return False
    return frame.astype(str).equals(other.reset_index(drop=True).astype(str))


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: manifest not found; run the ingest step first")
    frame = pd.read_parquet(path)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise InputError(f"{path}: not a medimg manifest, missing columns {sorted(missing)}")
    return frame


def usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows a model can learn from: converted and labelled."""
    return frame[(frame["status"] == "ok") & frame["label"].notna()]
