"""What a DICOM SEG and a DICOM SR of medimg's have in common: the source instances they answer,
the codes of the classes, the algorithm's identity, and UIDs derived from their inputs.

These objects carry the source patient's identifiers, because a PACS files them into that patient's
record. They are written only to `medimg predict`'s own output folder, never into the pipeline's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import generate_uid

from medimg.deploy.bundle import Bundle
from medimg.io.digest import file_digest

PRIVATE_SCHEME = "99MEDIMG"  # DICOM reserves 99* designators for local coding schemes
# patient and general study attributes a SEG or SR copies from its source: required, may be empty
TYPE2_COPIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
ANATOMICAL_STRUCTURE = ("123037004", "SCT", "Anatomical Structure")


@dataclass(frozen=True)
class Algorithm:
    """Who made the result: written into the SEG's segments and the SR's measurement group."""

    name: str  # e.g. medimg resnet3d_18
    version: str  # the registered model version, else a digest of the model file
    software: str  # medimg's version
    manufacturer: str


def model_version(bundle: Path, spec: Bundle) -> str:
    """``<registered name>:<version>`` for a bundle fetched from the registry (the watcher's
    champion), else the first 12 hex digits of the model file's SHA-256: either way it changes
    whenever the model does."""
    if spec.registered_model is not None:
        return f"{spec.registered_model.name}:{spec.registered_model.version}"
    return f"sha256:{file_digest(bundle / spec.reference_file)[:12]}"


def result_uid(kind: str, source_series_uid: str, algorithm: Algorithm) -> str:
    """A UID for one result object that is the same every time the same model answers the same
    series: sending it twice stores it once, so a retried send can never make a duplicate."""
    return generate_uid(entropy_srcs=[kind, source_series_uid, algorithm.name, algorithm.version])


def result_identity(
    kind: str, sources: list[pydicom.Dataset], algorithm: Algorithm, number: int
) -> dict:
    """The series and instance identity of a ``kind`` result (seg, sr) of the series of ``sources``,
    as highdicom's constructors take it: UIDs derived from that series and the model."""
    series_uid = str(sources[0].SeriesInstanceUID)
    return {
        "series_instance_uid": result_uid(f"{kind}-series", series_uid, algorithm),
        "series_number": number,
        "sop_instance_uid": result_uid(kind, series_uid, algorithm),
        "instance_number": 1,
        "manufacturer": algorithm.manufacturer,
    }


def read_sources(paths: list[str]) -> list[pydicom.Dataset]:
    """The source instances' headers in the order given (pixel data is not needed), with what
    scanners get wrong and highdicom refuses mended: an empty Specific Character Set means the
    default repertoire, so it is dropped; a missing type 2 patient or study attribute (which a
    result copies) is present but empty, as the standard allows."""
    sources = []
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
            del ds.SpecificCharacterSet
        for keyword in TYPE2_COPIED:
            if keyword not in ds:
                setattr(ds, keyword, None)
        sources.append(ds)
    return sources


@contextmanager
def quiet_about_sources() -> Iterator[None]:
    """Silence highdicom's warnings about the source's values while a result is built: they quote
    those values (the patient's name among them), and stderr ends up in logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _slice_grid(ds: pydicom.Dataset) -> sitk.Image:
    """An empty one-slice image on the grid of one source instance."""
    row, col = (np.array(ds.ImageOrientationPatient[i : i + 3], float) for i in (0, 3))
    grid = sitk.Image([int(ds.Columns), int(ds.Rows), 1], sitk.sitkUInt8)
    grid.SetOrigin([float(v) for v in ds.ImagePositionPatient])
    spacing_row, spacing_col = (float(v) for v in ds.PixelSpacing)  # between rows, between columns
    grid.SetSpacing([spacing_col, spacing_row, 1.0])
    grid.SetDirection(np.column_stack([row, col, np.cross(row, col)]).ravel().tolist())
    return grid


def labels_on_source_slices(mask: sitk.Image, sources: list[pydicom.Dataset]) -> np.ndarray:
    """The label map sampled (nearest) on each source slice's pixel grid: (slices, rows, columns),
    one frame per source instance in the order given, so each SEG frame lies on its slice."""
    frames = []
    for ds in sources:
        on_slice = sitk.Resample(
            mask, _slice_grid(ds), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
        )
        frames.append(sitk.GetArrayFromImage(on_slice)[0])
    return np.stack(frames)


def class_codes(spec: Bundle) -> dict[str, dict]:
    """Each class name's codes: those params ``results.classes`` named, else a private code."""
    named = {c.name: c.model_dump(exclude_none=True) for c in spec.dicom.classes}
    codes = {}
    for index, name in enumerate(spec.class_names):
        coding = named.get(name) or {
            "type": {"code": f"C{index}", "scheme": PRIVATE_SCHEME, "meaning": name[:64]}
        }
        category = coding.get("category") or dict(
            zip(("code", "scheme", "meaning"), ANATOMICAL_STRUCTURE)
        )
        codes[name] = {"type": coding["type"], "category": category}
    return codes


def coded(concept: dict):
    """A params-style {code, scheme, meaning} as highdicom's CodedConcept."""
    from highdicom.sr import CodedConcept

    return CodedConcept(concept["code"], concept["scheme"], concept["meaning"])
