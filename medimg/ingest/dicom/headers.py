"""Find DICOM files at any depth and read only their headers, in parallel, to plan the conversion.

A classic file gives one :class:`SliceHeader`; an enhanced multi-frame file gives one per frame, with
the frame's own position, orientation, spacing and rescale from its functional groups, so the rest
of planning treats both alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pydicom
from pydicom.errors import InvalidDicomError

from medimg.ingest.dicom.sop_classes import is_picture, non_image_type, sop_class_name
from medimg.io.pictures import PICTURE_SUFFIXES
from medimg.io.volume_files import is_volume_file

# Files that are obviously not DICOM are not even opened; pictures are handled by medimg.io.pictures.
NON_DICOM_SUFFIXES = (
    ".csv",
    ".raw",  # a MetaImage's (.mhd) pixel data
    ".zraw",
    ".json",
    ".txt",
    ".md",
    ".yaml",
    ".yml",
) + PICTURE_SUFFIXES
HEADER_TAGS = [
    "SOPClassUID",
    "Modality",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "ImageType",
    "Manufacturer",
    "NumberOfFrames",
    "EchoNumbers",
    "AcquisitionNumber",
    "RescaleSlope",
    "RescaleIntercept",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "BitsStored",
    "GantryDetectorTilt",
    "ImagerPixelSpacing",
    "BitsAllocated",
    "PixelRepresentation",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "PixelData",  # deferred: only where its value starts is read, for the uncompressed fast path
]
PIXEL_DATA_TAG = 0x7FE00010
IMPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2"  # what a file without file meta is, by the standard
NATIVE_LITTLE_ENDIAN = {IMPLICIT_LITTLE_ENDIAN, "1.2.840.10008.1.2.1"}
DEFER_BYTES = 1024


@dataclass(frozen=True)
class SliceHeader:
    """What planning needs from one frame. Holds clear identifiers: it never leaves memory."""

    path: str
    frame: int | None  # index in a multi-frame file; None for a classic single-frame file
    sop_class_uid: str
    modality: str
    patient_id: str
    study_uid: str
    series_uid: str
    instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    image_type: tuple[str, ...]
    manufacturer: str
    echo: str
    acquisition: str
    stack: str  # multi-frame stack / temporal position: frames of one volume share it
    transfer_syntax: str
    photometric: str
    samples: int
    slope: float
    intercept: float
    bits_stored: int
    gantry_tilt: float
    native_pixels: (
        tuple[int, str] | None
    )  # (byte offset, numpy dtype) of uncompressed little-endian pixels
    is_picture: bool  # a 2D item (radiograph, photo, secondary capture), not a volume slice

    @property
    def file_key(self) -> str:
        return self.path if self.frame is None else f"{self.path}#{self.frame}"


@dataclass(frozen=True)
class Skipped:
    path: str
    reason_code: str
    reason: str
    object_type: str = ""


class CandidateFiles(NamedTuple):
    dicom: list[Path]
    pictures: list[Path]
    volumes: list[Path]
    others: list[Skipped]


def find_candidate_files(root: Path) -> CandidateFiles:
    """Possible DICOM files, picture files, volume files and other files (skipped with a reason)
    under ``root``. Symlinked folders are not followed, so a link loop cannot make the walk endless.
    """
    found = CandidateFiles([], [], [], [])
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            lower = name.lower()
            if name.startswith("."):
                found.others.append(Skipped(str(path), "hidden_file", "hidden file"))
            elif lower.endswith(PICTURE_SUFFIXES):
                found.pictures.append(path)
            elif is_volume_file(path):
                found.volumes.append(path)
            elif lower.endswith(NON_DICOM_SUFFIXES):
                found.others.append(
                    Skipped(str(path), "not_dicom", f"{Path(lower).suffix} file, not DICOM")
                )
            else:
                found.dicom.append(path)
    return CandidateFiles(
        sorted(found.dicom), sorted(found.pictures), sorted(found.volumes), found.others
    )


def _parts(value: object) -> list:
    """A multi-valued element as a list, whether pydicom parsed it or GDCM gave its raw backslash text."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        return [part.strip(" \0") for part in text.split("\\")] if text.strip(" \0") else []
    try:
        return list(value)  # type: ignore[call-overload]
    except TypeError:
        return [value]


def _text(value: object, default: str = "") -> str:
    parts = _parts(value)
    return "\\".join(str(p).strip(" \0") for p in parts) if parts else default


def to_int(value: object, default: int) -> int:
    parts = _parts(value)
    try:
        return int(float(parts[0])) if parts else default
    except (TypeError, ValueError):
        return default


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in _parts(value))
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(n == n for n in numbers) else None


def _number(value: object, default: float) -> float:
    parts = _parts(value)
    try:
        number = float(parts[0]) if parts else default
    except (TypeError, ValueError):
        return default
    return number if number == number else default  # NaN counts as missing


def _group_item(groups: object, sequence: str) -> object | None:
    """The first item of functional-group macro ``sequence`` inside a frame's or the shared groups."""
    if groups is None or sequence not in groups:  # type: ignore[operator]
        return None
    items = getattr(groups, sequence)
    return items[0] if items else None


def _rescale(value: object, default: float) -> float:
    """A rescale slope or intercept: ``default`` when absent, NaN when present but not a finite
    number, so the series is quarantined instead of converted with a guessed HU offset."""
    parts = _parts(value)
    if not parts:
        return default
    try:
        number = float(parts[0])
    except (TypeError, ValueError):
        return float("nan")
    return number if math.isfinite(number) else float("nan")


def _frame_value(frame_groups, shared_groups, sequence: str, attribute: str):
    for groups in (frame_groups, shared_groups):
        item = _group_item(groups, sequence)
        if item is not None and attribute in item:
            return getattr(item, attribute)
    return None


def _frames(ds, base: dict) -> list[SliceHeader]:
    """One header per frame of an enhanced multi-frame object, from its functional groups."""
    count = int(ds.get("NumberOfFrames", 1) or 1)
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or [None] * count
    headers = []
    for index in range(count):
        groups = per_frame[index] if index < len(per_frame) else None

        def value(sequence, attribute, groups=groups):
            return _frame_value(groups, shared, sequence, attribute)

        content = _group_item(groups, "FrameContentSequence")
        stack = (
            "|".join(str(content.get(tag, "")) for tag in ("StackID", "TemporalPositionIndex"))
            if content
            else ""
        )
        headers.append(
            SliceHeader(
                **{
                    **base,
                    "frame": index,
                    "stack": stack,
                    "position": _floats(value("PlanePositionSequence", "ImagePositionPatient"), 3)
                    or base["position"],
                    "orientation": _floats(
                        value("PlaneOrientationSequence", "ImageOrientationPatient"), 6
                    )
                    or base["orientation"],
                    "pixel_spacing": _floats(value("PixelMeasuresSequence", "PixelSpacing"), 2)
                    or base["pixel_spacing"],
                    "slope": _rescale(
                        value("PixelValueTransformationSequence", "RescaleSlope"), base["slope"]
                    ),
                    "intercept": _rescale(
                        value("PixelValueTransformationSequence", "RescaleIntercept"),
                        base["intercept"],
                    ),
                }
            )
        )
    return headers


def _read_dataset(path: Path):
    """The planning tags; files without the DICM preamble (old writers) are accepted if they parse to a
    dataset that names its SOP class, which random bytes with a .dcm name never do."""
    try:
        return pydicom.dcmread(path, defer_size=DEFER_BYTES, specific_tags=HEADER_TAGS)
    except InvalidDicomError:
        ds = pydicom.dcmread(path, defer_size=DEFER_BYTES, specific_tags=HEADER_TAGS, force=True)
        uid = str(ds.get("SOPClassUID", ""))
        if not uid.startswith("1.2.840.10008."):
            raise
        return ds


def native_dtype(
    syntax: str, samples: int, bits: int, signed: bool, bits_stored: int
) -> str | None:
    """The numpy dtype of pixel values simple enough to read from their offset, else None.

    Only the simplest layout qualifies (little endian, one sample, 8/16/32 bits, all bits used or
    unsigned); anything else goes through pydicom's decoders (sign extension of partial bits is theirs).
    """
    if syntax not in NATIVE_LITTLE_ENDIAN or samples != 1 or bits not in (8, 16, 32):
        return None
    if signed and bits_stored != bits:
        return None
    return f"<{'i' if signed else 'u'}{bits // 8}"


def _native_pixels(ds, syntax: str) -> tuple[int, str] | None:
    """Where a plain uncompressed single-frame image's values start, from pydicom's deferred element."""
    if "PixelData" not in ds or to_int(ds.get("NumberOfFrames"), 1) != 1:
        return None
    bits = to_int(ds.get("BitsAllocated"), 0)
    dtype = native_dtype(
        syntax,
        to_int(ds.get("SamplesPerPixel"), 1),
        bits,
        to_int(ds.get("PixelRepresentation"), 0) == 1,
        to_int(ds.get("BitsStored"), bits),
    )
    if dtype is None:
        return None
    element = ds.get_item("PixelData")
    offset = getattr(element, "file_tell", None)
    if offset is None or getattr(element, "is_undefined_length", False):
        return None
    expected = to_int(ds.get("Rows"), 0) * to_int(ds.get("Columns"), 0) * bits // 8
    declared = getattr(ds._dict.get(PIXEL_DATA_TAG), "length", None)
    if (
        declared is not None and declared != expected
    ):  # a wrong length field: the decoder judges the file
        return None
    return int(offset), dtype


def effective_syntax(path: str, syntax: str) -> str:
    """The transfer syntax a reader must assume. A file without file meta (no DICM preamble, as old
    writers made) is implicit VR little endian by the standard; a file with file meta that leaves the
    syntax out is damaged, and keeps "" so its series is quarantined."""
    if syntax:
        return syntax
    try:
        with open(path, "rb") as handle:
            has_meta = handle.read(132)[128:132] == b"DICM"
    except OSError:
        return ""
    return "" if has_meta else IMPLICIT_LITTLE_ENDIAN


def _header_damage(path: Path, ds, file_size: int) -> str | None:
    """Why a header pydicom parsed leniently cannot be trusted: nothing after the preamble, or an
    element whose length field runs past the end of the file (pydicom then just reads what is there)."""
    if len(ds) == 0:  # none of the planning tags: look at everything the file holds
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, defer_size=DEFER_BYTES)
        if len(ds) == 0:
            return "no data elements after the DICOM preamble"
    for element in ds._dict.values():
        if (
            element.tag == PIXEL_DATA_TAG
        ):  # short pixel data is the decoder's to judge (unreadable_pixels)
            continue
        length, start = getattr(element, "length", None), getattr(element, "value_tell", None)
        if (
            length is not None
            and start is not None
            and length != 0xFFFFFFFF
            and start + length > file_size
        ):
            return f"element {element.tag} declares {length} bytes, past the end of the file"
    return None


def read_header(path: Path) -> list[SliceHeader] | Skipped:
    """Read one file's header: its frame headers, or a Skipped that says why it is not an input image."""
    if path.name.upper() == "DICOMDIR":
        return Skipped(str(path), "dicomdir", "DICOMDIR index file, not an image")
    try:
        if path.stat().st_size == 0:
            return Skipped(str(path), "empty_file", "empty file (0 bytes)")
        ds = _read_dataset(path)
    except InvalidDicomError:
        return Skipped(
            str(path), "not_dicom", "not a DICOM file (no DICM preamble or valid elements)"
        )
    except PermissionError:
        return Skipped(str(path), "unreadable_file", "permission denied")
    except OSError as exc:
        return Skipped(
            str(path),
            "unreadable_file",
            f"could not be read ({exc.strerror or type(exc).__name__})",
        )
    except Exception as exc:  # pydicom raises many types on damaged files
        return Skipped(
            str(path), "unreadable_header", f"header could not be parsed: {type(exc).__name__}"
        )
    damage = _header_damage(path, ds, path.stat().st_size)
    if damage:
        return Skipped(str(path), "unreadable_header", damage)
    meta = getattr(ds, "file_meta", None)
    syntax = effective_syntax(
        str(path), str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    )
    base = header_fields(str(path), ds.get, syntax)
    if isinstance(base, Skipped):
        return base
    base["native_pixels"] = _native_pixels(ds, syntax)
    if to_int(ds.get("NumberOfFrames"), 1) > 1:
        return _frames(ds, base)
    return [SliceHeader(**base)]


def header_fields(path: str, get: Callable[[str], object], syntax: str) -> dict | Skipped:
    """SliceHeader fields from any tag reader (``get(keyword)``: a value, GDCM text, or None).

    Returns a Skipped when the object is not an image: a non-image SOP class, no series, no rows.
    """
    sop_class, modality = _text(get("SOPClassUID")), _text(get("Modality"), "OT")
    kind = non_image_type(sop_class, modality)
    if kind:
        return Skipped(
            path,
            "non_image_object",
            f"{kind} object ({sop_class_name(sop_class)}), not an image",
            object_type=kind,
        )
    series_uid = _text(get("SeriesInstanceUID"))
    if not series_uid:
        return Skipped(path, "no_series_uid", "DICOM object without SeriesInstanceUID")
    rows, columns = to_int(get("Rows"), 0), to_int(get("Columns"), 0)
    if not rows or not columns:
        return Skipped(
            path,
            "non_image_object",
            f"no image (Modality {modality}, {sop_class_name(sop_class)})",
            object_type=modality,
        )
    picture = is_picture(sop_class, modality)
    spacing = _floats(get("PixelSpacing"), 2)
    if picture and spacing is None:  # radiographs give the detector's spacing
        spacing = _floats(get("ImagerPixelSpacing"), 2)
    return dict(
        path=path,
        frame=None,
        sop_class_uid=sop_class,
        modality=modality,
        patient_id=_text(get("PatientID")),
        study_uid=_text(get("StudyInstanceUID")),
        series_uid=series_uid,
        instance_uid=_text(get("SOPInstanceUID")),
        position=_floats(get("ImagePositionPatient"), 3),
        orientation=_floats(get("ImageOrientationPatient"), 6),
        pixel_spacing=spacing,
        rows=rows,
        columns=columns,
        image_type=tuple(str(v).strip().upper() for v in _parts(get("ImageType"))),
        manufacturer=_text(get("Manufacturer")),
        echo=_text(get("EchoNumbers")),
        acquisition=_text(get("AcquisitionNumber")),
        stack="",
        transfer_syntax=syntax,
        native_pixels=None,
        photometric=_text(get("PhotometricInterpretation"), "MONOCHROME2"),
        samples=to_int(get("SamplesPerPixel"), 1),
        slope=_rescale(get("RescaleSlope"), 1.0),
        intercept=_rescale(get("RescaleIntercept"), 0.0),
        bits_stored=to_int(get("BitsStored"), 16),
        gantry_tilt=_number(get("GantryDetectorTilt"), 0.0),
        is_picture=picture,
    )
