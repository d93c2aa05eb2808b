"""A corpus of damaged DICOM: one folder per kind of damage, beside clean series, to prove ingest
quarantines each with its own reason, converts the rest, and never allocates what a header claims.

Series-level damage is a whole series that ingest must quarantine (manifest ``reason_code``);
file-level damage is one file that ingest must skip (summary ``skipped_files_by_reason``).
"""

from __future__ import annotations

import csv
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import BasicTextSRStorage, generate_uid

from medimg.demo.ct_phantom import PhantomGeometry, make_chest_ct
from medimg.demo.dicom_series import (
    PatientIdentity,
    StudyInfo,
    centred_origin,
    ct_slice_dataset,
    hu_to_stored,
)

GEOMETRY = PhantomGeometry(slices=12, matrix=32, pixel_spacing_mm=8.0, slice_spacing_mm=5.0)


@dataclass(frozen=True)
class Damage:
    name: str
    level: str  # series: the series is quarantined | file: the file is skipped
    code: str  # the reason code ingest must give
    write: Callable[[CorpusWriter, Path], None]
    needs_unprivileged: bool = False  # file permissions do not stop root


class CorpusWriter:
    """Small clean CT series (one phantom, fake identity) that each damage then breaks."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.hu, _ = make_chest_ct(self.rng, GEOMETRY, nodule_diameter_mm=16.0)
        self.patient = PatientIdentity("BAD^CORPUS", "BADPID0001", "19700101", "M")
        self.study = StudyInfo(
            generate_uid(), "BADACC0001", "20260101", "BAD INSTITUTION", "BAD VENDOR"
        )
        self.series_uids: list[str] = []

    def slices(self) -> list[Dataset]:
        ps, dz = GEOMETRY.pixel_spacing_mm, GEOMETRY.slice_spacing_mm
        origin, uid, frame = centred_origin(self.hu.shape, ps, dz), generate_uid(), generate_uid()
        self.series_uids.append(uid)
        return [
            ct_slice_dataset(
                hu_to_stored(self.hu[k]),
                list(origin + [0.0, 0.0, k * dz]),
                ps,
                dz,
                self.patient,
                self.study,
                uid,
                generate_uid(),
                frame,
                k + 1,
            )
            for k in range(len(self.hu))
        ]

    @staticmethod
    def save(folder: Path, datasets: list[Dataset]) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"slice{k:03d}.dcm" for k in range(len(datasets))]
        for ds, path in zip(datasets, paths):
            ds.save_as(path, enforce_file_format=True)
        return paths


def _edit_all(edit: Callable[[Dataset], None]):
    def write(w: CorpusWriter, folder: Path) -> None:
        slices = w.slices()
        for ds in slices:
            edit(ds)
        w.save(folder, slices)

    return write


def _edit_one(edit: Callable[[Dataset], None], index: int = 5):
    def write(w: CorpusWriter, folder: Path) -> None:
        slices = w.slices()
        edit(slices[index])
        w.save(folder, slices)

    return write


def _truncated_pixels(w: CorpusWriter, folder: Path) -> None:
    paths = w.save(folder, w.slices())
    paths[5].write_bytes(paths[5].read_bytes()[:-700])


def _pixel_length_field_too_large(w: CorpusWriter, folder: Path) -> None:
    """PixelData's 4-byte length field claims 1 GB more than the file holds."""
    paths = w.save(folder, w.slices())
    data = bytearray(paths[5].read_bytes())
    tag = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
    length = struct.unpack_from("<I", data, tag + 8)[0]
    struct.pack_into("<I", data, tag + 8, length + (1 << 30))
    paths[5].write_bytes(bytes(data))


def _element_length_field_garbled(w: CorpusWriter, folder: Path) -> None:
    """A short text element (Manufacturer) claims a length running past the end of the file."""
    path = w.save(folder, w.slices()[:1])[0]
    data = bytearray(path.read_bytes())
    tag = data.find(b"\x08\x00\x70\x00LO")
    struct.pack_into("<H", data, tag + 6, 0xFFF0)
    path.write_bytes(bytes(data[: tag + 200]))


def _missing_transfer_syntax(w: CorpusWriter, folder: Path) -> None:
    """Each file keeps its preamble and file meta, but the meta loses (0002,0010) TransferSyntaxUID."""
    for path in w.save(folder, w.slices()):
        data = bytearray(path.read_bytes())
        at = data.find(b"\x02\x00\x10\x00UI")
        size = 8 + struct.unpack_from("<H", data, at + 6)[0]
        del data[at : at + size]
        group = data.find(b"\x02\x00\x00\x00UL\x04\x00")
        struct.pack_into("<I", data, group + 8, struct.unpack_from("<I", data, group + 8)[0] - size)
        path.write_bytes(bytes(data))


def _rows_columns_differ(ds: Dataset) -> None:
    ds.Rows, ds.Columns = 16, 16
    ds.PixelData = np.zeros((16, 16), np.uint16).tobytes()


def _huge_frame(ds: Dataset) -> None:
    """Declares 65535 x 65535 x 32 bits (16 GiB) over a few bytes of pixel data."""
    ds.Rows, ds.Columns = 65535, 65535
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31


def _missing_slice(w: CorpusWriter, folder: Path) -> None:
    slices = w.slices()
    w.save(folder, slices[:5] + slices[6:])


def _duplicate_slice(w: CorpusWriter, folder: Path) -> None:
    slices = w.slices()
    copy = slices[5].copy()
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    w.save(folder, slices + [copy])


def _no_decoder(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = (
        "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264: no decoder installed
    )
    ds.PixelData = encapsulate([bytes(64)])
    ds["PixelData"].VR = "OB"


def _single_slice(w: CorpusWriter, folder: Path) -> None:
    w.save(folder, w.slices()[:1])


def _colour(ds: Dataset) -> None:
    plane = np.frombuffer(ds.PixelData, np.uint16).reshape(ds.Rows, ds.Columns)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.repeat((plane >> 4).astype(np.uint8)[..., None], 3, axis=-1).tobytes()


def _file(content: bytes, name: str = "broken.dcm"):
    def write(w: CorpusWriter, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)

    return write


def _garbage_after_preamble(w: CorpusWriter, folder: Path) -> None:
    _file(bytes(128) + b"DICM" + np.random.default_rng(1).bytes(300))(w, folder)


def _unreadable(w: CorpusWriter, folder: Path) -> None:
    path = w.save(folder, w.slices()[:1])[0]
    path.chmod(0)


def _symlink_loop(w: CorpusWriter, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink("b.dcm", folder / "a.dcm")
    os.symlink("a.dcm", folder / "b.dcm")


def _dangling_symlink(w: CorpusWriter, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink("no-such-file.dcm", folder / "gone.dcm")


def _no_series_uid(w: CorpusWriter, folder: Path) -> None:
    ds = w.slices()[0]
    del ds.SeriesInstanceUID
    w.save(folder, [ds])


def _structured_report(w: CorpusWriter, folder: Path) -> None:
    like = w.slices()[0]
    ds = Dataset()
    ds.file_meta = like.file_meta
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = BasicTextSRStorage
    ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID = (
        generate_uid(),
        generate_uid(),
        like.StudyInstanceUID,
    )
    ds.Modality, ds.ValueType, ds.TextValue = "SR", "CONTAINER", "No nodule seen."
    w.save(folder, [ds])


def _zero_rows(w: CorpusWriter, folder: Path) -> None:
    ds = w.slices()[0]
    ds.Rows = 0
    w.save(folder, [ds])


def _spacing(value: list[float]):
    def edit(ds: Dataset) -> None:
        ds.PixelSpacing = value

    return edit


def _rescale(slope: str, intercept: str):
    def edit(ds: Dataset) -> None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept

    return edit


def _without(*keywords: str):
    def edit(ds: Dataset) -> None:
        for keyword in keywords:
            delattr(ds, keyword)

    return edit


DAMAGES: list[Damage] = [
    Damage("truncated_pixel_data", "series", "unreadable_pixels", _truncated_pixels),
    Damage(
        "pixel_length_field_too_large", "series", "unreadable_pixels", _pixel_length_field_too_large
    ),
    Damage(
        "element_length_field_garbled", "file", "unreadable_header", _element_length_field_garbled
    ),
    Damage(
        "missing_transfer_syntax", "series", "missing_transfer_syntax", _missing_transfer_syntax
    ),
    Damage(
        "missing_position",
        "series",
        "missing_geometry",
        _edit_one(_without("ImagePositionPatient")),
    ),
    Damage(
        "missing_orientation",
        "series",
        "missing_geometry",
        _edit_all(_without("ImageOrientationPatient")),
    ),
    Damage(
        "missing_pixel_spacing", "series", "bad_pixel_spacing", _edit_all(_without("PixelSpacing"))
    ),
    Damage("zero_pixel_spacing", "series", "bad_pixel_spacing", _edit_all(_spacing([0.0, 0.0]))),
    Damage(
        "negative_pixel_spacing", "series", "bad_pixel_spacing", _edit_all(_spacing([-8.0, -8.0]))
    ),
    Damage(
        "pixel_spacing_differs",
        "series",
        "inconsistent_pixel_spacing",
        _edit_one(_spacing([4.0, 4.0])),
    ),
    Damage("nan_rescale_slope", "series", "bad_rescale", _edit_all(_rescale("NaN", "-1024"))),
    Damage("nan_rescale_intercept", "series", "bad_rescale", _edit_one(_rescale("1", "nan"))),
    Damage("zero_rescale_slope", "series", "bad_rescale", _edit_all(_rescale("0", "-1024"))),
    Damage("rows_columns_differ", "series", "inconsistent_size", _edit_one(_rows_columns_differ)),
    Damage("huge_declared_frame", "series", "unreadable_pixels", _edit_all(_huge_frame)),
    Damage("missing_slice", "series", "missing_slices", _missing_slice),
    Damage("duplicate_slice", "series", "duplicate_positions", _duplicate_slice),
    Damage("no_pixel_decoder", "series", "no_decoder", _edit_all(_no_decoder)),
    Damage("single_slice", "series", "single_slice", _single_slice),
    Damage("colour_volume", "series", "color_volume", _edit_all(_colour)),
    Damage(
        "random_bytes_named_dcm", "file", "not_dicom", _file(np.random.default_rng(0).bytes(4096))
    ),
    Damage(
        "text_named_dcm", "file", "not_dicom", _file(b"PatientName,PatientID\nSMITH^JOHN,12345\n")
    ),
    Damage("garbage_after_preamble", "file", "unreadable_header", _garbage_after_preamble),
    Damage("empty_file", "file", "empty_file", _file(b"")),
    Damage("dicomdir", "file", "dicomdir", _file(bytes(256), "DICOMDIR")),
    Damage("no_series_uid", "file", "no_series_uid", _no_series_uid),
    Damage("structured_report", "file", "non_image_object", _structured_report),
    Damage("zero_rows", "file", "non_image_object", _zero_rows),
    Damage("symlink_loop", "file", "unreadable_file", _symlink_loop),
    Damage("dangling_symlink", "file", "unreadable_file", _dangling_symlink),
    Damage(
        "unreadable_permissions", "file", "unreadable_file", _unreadable, needs_unprivileged=True
    ),
]


def write_bad_corpus(out: Path, clean_series: int = 2, seed: int = 0) -> dict[str, Damage]:
    """Write each damage under ``out/<name>/`` and ``clean_series`` intact series under ``out/clean-<i>/``.

    labels.csv labels each series with its folder's position in the returned dict (clean series get
    -1, -2, ...), so a test finds each one's manifest row without its pseudonymous key. Damages that
    need an unprivileged user are left out when running as root, which file permissions do not stop.
    """
    writer = CorpusWriter(seed)
    written: dict[str, Damage] = {}
    labels: list[tuple[str, int]] = []
    for damage in DAMAGES:
        if damage.needs_unprivileged and os.geteuid() == 0:
            continue
        writer.series_uids.clear()
        damage.write(writer, out / damage.name)
        labels += [(uid, len(written)) for uid in writer.series_uids]
        written[damage.name] = damage
    for index in range(clean_series):
        writer.save(out / f"clean-{index}", writer.slices())
        labels.append((writer.series_uids[-1], -1 - index))
    with open(out / "labels.csv", "w", newline="") as handle:
        csv_writer = csv.writer(handle)
        csv_writer.writerow(["series_instance_uid", "label", "mask"])
        csv_writer.writerows([uid, label, ""] for uid, label in labels)
    return written
