"""Find DICOM files at any depth and read only their headers, in parallel, to plan the conversion."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from tqdm import tqdm

# Files that are obviously not DICOM are not even opened.
NON_DICOM_SUFFIXES = (".csv", ".nii", ".nii.gz", ".png", ".jpg", ".jpeg", ".json", ".txt", ".md", ".yaml")
HEADER_TAGS = [
    "SOPClassUID", "Modality", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "ImagePositionPatient",
    "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns", "ImageType", "Manufacturer",
    "NumberOfFrames", "EchoNumbers", "AcquisitionNumber", "InstanceNumber",
]


@dataclass(frozen=True)
class SliceHeader:
    """What planning needs from one file. Holds clear identifiers: it never leaves memory."""

    path: str
    sop_class_uid: str
    modality: str
    patient_id: str
    study_uid: str
    series_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    image_type: tuple[str, ...]
    manufacturer: str
    frames: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason_code: str
    reason: str


def find_candidate_files(root: Path) -> tuple[list[Path], int]:
    """Every regular file under ``root`` that could be DICOM, and how many obvious non-DICOM files."""
    candidates, others = [], 0
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            if name.startswith(".") or name.lower().endswith(NON_DICOM_SUFFIXES):
                others += 1
            else:
                candidates.append(Path(folder) / name)
    candidates.sort()
    return candidates, others


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def read_header(path: Path) -> SliceHeader | Skipped:
    """Read one file's header; anything that is not a usable DICOM image becomes a Skipped."""
    if path.name.upper() == "DICOMDIR":
        return Skipped(str(path), "dicomdir", "DICOMDIR index file, not an image")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=HEADER_TAGS)
    except InvalidDicomError:
        return Skipped(str(path), "not_dicom", "not a DICOM file (no DICM preamble or valid elements)")
    except Exception as exc:  # pydicom raises many types on damaged files
        return Skipped(str(path), "unreadable_header", f"header could not be parsed: {type(exc).__name__}")
    if "SeriesInstanceUID" not in ds:
        return Skipped(str(path), "no_series_uid", "DICOM object without SeriesInstanceUID")
    if "Rows" not in ds or "Columns" not in ds:
        return Skipped(str(path), "not_image", f"non-image object (Modality {ds.get('Modality', '?')})")
    return SliceHeader(
        path=str(path),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        modality=str(ds.get("Modality", "OT")),
        patient_id=str(ds.get("PatientID", "")),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.SeriesInstanceUID),
        position=_floats(ds.get("ImagePositionPatient"), 3),
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        image_type=tuple(str(v) for v in (ds.get("ImageType") or ())),
        manufacturer=str(ds.get("Manufacturer", "")),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def scan_headers(files: list[Path], workers: int = 0) -> list[SliceHeader | Skipped]:
    """Read all headers across ``workers`` processes (0: one per core), with a progress bar."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(files) < 64:
        return [read_header(f) for f in tqdm(files, desc="read headers", unit="file")]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(read_header, files, chunksize=64), total=len(files),
                         desc="read headers", unit="file"))
