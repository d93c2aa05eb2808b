"""The manifest contract: one row per series or 2D image, quarantined rows included.

No column may hold a clear DICOM identifier; keys are salted pseudonyms (see medimg.deid).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medimg import atomic

COLUMNS = [
    "patient_key", "study_key", "series_key", "modality", "manufacturer", "ndim", "shape", "spacing",
    "origin", "direction", "units", "n_files", "volume_path", "mask_path", "checksum", "label", "split",
    "status", "reason_code", "reason",
]


def write_parquet(frame: pd.DataFrame, target: str | Path) -> Path:
    return atomic.write_with(target, lambda tmp: frame.to_parquet(tmp, index=False), suffix=".parquet")


def write_manifest(rows: list[dict], target: str | Path) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["label"] = frame["label"].astype("Int64")
    frame = frame.sort_values("series_key", kind="stable").reset_index(drop=True)
    write_parquet(frame, target)
    return frame


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: manifest not found; run the ingest step first")
    frame = pd.read_parquet(path)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a medimg manifest, missing columns {sorted(missing)}")
    return frame


def usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows a model can learn from: converted and labelled."""
    return frame[(frame["status"] == "ok") & frame["label"].notna()]
