"""A DICOM tree with one series per real-world defect, to prove ingest copes (tests, `medimg demo edge-cases`).

Every case is built from the same small chest phantom, so a converted case can be compared voxel for
voxel with the truth. labels.csv gives each series its case number as label, which lets a test find
each case's manifest row without knowing its pseudonymous key.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    generate_uid,
)
from scipy import ndimage

from medimg.demo.ct_phantom import PhantomGeometry, make_chest_ct
from medimg.demo.dicom_series import (
    PatientIdentity,
    StudyInfo,
    centred_origin,
    ct_slice_dataset,
    hu_to_stored,
)

GEOMETRY = PhantomGeometry(slices=20, matrix=32, pixel_spacing_mm=8.0, slice_spacing_mm=5.0)
TILT_SHIFT_PX = 0.25  # in-plane drift per slice of the tilted case: atan(0.25*8/5) = 21.8 degrees


@dataclass(frozen=True)
class EdgeCase:
    label: int  # the case number, written as its label in labels.csv
    name: str
    status: str  # ok | quarantined
    code: str  # the fix (ok) or reason code (quarantined) ingest must report; "" for a clean series


CASES = [
    EdgeCase(0, "shuffled_names", "ok", ""),
    EdgeCase(1, "gantry_tilt", "ok", "gantry_tilt"),
    EdgeCase(2, "missing_slice", "quarantined", "missing_slices"),
    EdgeCase(3, "duplicate_slice", "quarantined", "duplicate_positions"),
    EdgeCase(4, "mixed_folder_a", "ok", ""),
    EdgeCase(5, "mixed_folder_b", "ok", ""),
    EdgeCase(6, "multiframe", "ok", ""),
    EdgeCase(7, "monochrome1", "ok", ""),
    EdgeCase(8, "jpeg2000", "ok", ""),
    EdgeCase(9, "truncated_file", "quarantined", "unreadable_pixels"),
    EdgeCase(10, "nonuniform_spacing", "ok", "nonuniform_spacing"),
    EdgeCase(11, "no_decoder", "quarantined", "no_decoder"),
    EdgeCase(12, "radiograph", "ok", ""),
]
LOCALIZER_CODE = (
    "single_slice"  # the localizer inside mixed_folder_a's series becomes its own sub-series
)


class _Writer:
    """Writes the cases under ``out`` with opaque names; holds the phantom and the fake identity."""

    def __init__(self, out: Path, seed: int):
        self.out, self.rng = out, np.random.default_rng(seed)
        self.hu, _ = make_chest_ct(self.rng, GEOMETRY, nodule_diameter_mm=16.0)
        self.patient = PatientIdentity("CANARY^EDGE^CASE", "EDGEPID0001", "19700101", "F")
        self.study = StudyInfo(
            generate_uid(), "EDGEACC0001", "20260101", "EDGE INSTITUTION", "EDGE VENDOR"
        )
        self.series_uids: dict[int, str] = {}

    def name(self) -> str:
        return "".join(self.rng.choice(list("0123456789ABCDEF"), size=12))

    def slices(
        self,
        case: int,
        hu: np.ndarray | None = None,
        drift_px: float = 0.0,
        offsets_mm: list[float] | None = None,
        series_uid: str | None = None,
    ) -> list[Dataset]:
        hu = self.hu if hu is None else hu
        uid = series_uid or generate_uid()
        self.series_uids[case] = uid
        ps, dz = GEOMETRY.pixel_spacing_mm, GEOMETRY.slice_spacing_mm
        origin = centred_origin(hu.shape, ps, dz)
        offsets = offsets_mm if offsets_mm is not None else [k * dz for k in range(len(hu))]
        frame_uid = generate_uid()
        out = []
        for k, offset in enumerate(offsets):
            plane = hu[k]
            if drift_px:  # the slice images the body shifted: what a tilted gantry records
                plane = ndimage.shift(plane, (-drift_px * k, 0), order=1, mode="nearest")
            position = origin + [0.0, drift_px * k * ps, offset]
            out.append(
                ct_slice_dataset(
                    hu_to_stored(plane),
                    list(position),
                    ps,
                    dz,
                    self.patient,
                    self.study,
                    uid,
                    generate_uid(),
                    frame_uid,
                    k + 1,
                )
            )
        return out

    def save(self, folder: str, datasets: list[Dataset]) -> list[Path]:
        target = self.out / folder / self.name()
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for ds in datasets:
            path = target / (self.name() + (".dcm" if self.rng.random() < 0.5 else ""))
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return paths


def _multiframe(slices: list[Dataset]) -> Dataset:
    """The classic slices as one Enhanced CT object with per-frame functional groups."""
    first = slices[0]
    ds = Dataset()
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
        "AccessionNumber",
        "StudyDate",
        "InstitutionName",
        "Manufacturer",
        "Modality",
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ):
        setattr(ds, keyword, getattr(first, keyword))
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedCTImageStorage, generate_uid()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.NumberOfFrames = len(slices)
    shared = Dataset()
    measures, orientation, transform = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = first.PixelSpacing, first.SliceThickness
    orientation.ImageOrientationPatient = first.ImageOrientationPatient
    transform.RescaleIntercept, transform.RescaleSlope, transform.RescaleType = (
        first.RescaleIntercept,
        1.0,
        "HU",
    )
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for index, s in enumerate(slices):
        item, position, content = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = s.ImagePositionPatient
        content.StackID, content.InStackPositionNumber = "1", index + 1
        item.PlanePositionSequence, item.FrameContentSequence = (
            Sequence([position]),
            Sequence([content]),
        )
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _structured_report(like: Dataset) -> Dataset:
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber"):
        setattr(ds, keyword, getattr(like, keyword))
    ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID = (
        BasicTextSRStorage,
        generate_uid(),
        generate_uid(),
    )
    ds.Modality, ds.ValueType, ds.TextValue = "SR", "CONTAINER", "No nodule seen."
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _radiograph(like: Dataset, hu_plane: np.ndarray) -> Dataset:
    """A MONOCHROME1 digital radiograph (inverted grey scale), one picture per file."""
    ds = _structured_report(like)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.Modality = "DX"
    del ds.ValueType, ds.TextValue
    stored = (4095 - hu_to_stored(hu_plane)).astype(np.uint16)
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagerPixelSpacing = [0.5, 0.5]
    ds.PixelData = stored.tobytes()
    return ds


def write_edge_cases(out: Path, seed: int = 0) -> dict:
    """Write every case of :data:`CASES` (plus a structured report and a PNG) under ``out``."""
    w = _Writer(out, seed)
    dz = GEOMETRY.slice_spacing_mm
    w.save("shuffled", w.slices(0))
    w.save("tilt", w.slices(1, drift_px=TILT_SHIFT_PX))
    gap = w.slices(2)
    w.save("gap", gap[:8] + gap[9:])
    dup = w.slices(3)
    copy = dup[5].copy()
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    w.save("duplicate", dup + [copy])
    mixed = w.slices(4) + w.slices(5, hu=w.hu[::-1].copy())
    localizer = w.slices(-1, hu=w.hu[:1])[0]
    localizer.SeriesInstanceUID = w.series_uids[4]
    localizer.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    localizer.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    w.save("mixed", mixed + [localizer])
    w.save("multiframe", [_multiframe(w.slices(6))])
    mono1 = w.slices(7)
    for ds in mono1:
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.PixelData = (4095 - np.frombuffer(ds.PixelData, np.uint16)).astype(np.uint16).tobytes()
    w.save("monochrome1", mono1)
    j2k = w.slices(8)
    for ds in j2k:
        ds.compress(JPEG2000Lossless)
    w.save("jpeg2000", j2k)
    paths = w.save("truncated", w.slices(9))
    paths[7].write_bytes(paths[7].read_bytes()[:-1500])
    uneven = [k * dz + (0.2 * dz if k % 3 == 1 else 0.0) for k in range(GEOMETRY.slices)]
    w.save("uneven", w.slices(10, offsets_mm=uneven))
    mpeg = w.slices(11)
    for ds in mpeg:
        ds.file_meta.TransferSyntaxUID = (
            "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264: no decoder installed
        )
        ds.PixelData = encapsulate([bytes(64)])
        ds["PixelData"].VR = "OB"
    w.save("mpeg", mpeg)
    radiograph = _radiograph(mixed[0], w.hu[:, 16, :])
    w.series_uids[12] = radiograph.SeriesInstanceUID
    w.save("radiograph", [radiograph])
    w.save("report", [_structured_report(mixed[0])])
    photo = (np.indices((64, 64)).sum(axis=0) % 256).astype(np.uint8)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(
        sitk.GetImageFromArray(np.stack([photo, 255 - photo, photo // 2], axis=-1), isVector=True),
        str(out / "photos" / "skin.png"),
    )
    with open(out / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["series_instance_uid", "case", "mask"]
        )  # no masks; the column keeps default params happy
        for case, uid in sorted(w.series_uids.items()):
            if case >= 0:
                writer.writerow([uid, case, ""])
    return {
        "phantom_hu": w.hu,
        "series_uids": dict(w.series_uids),
        "patient": w.patient,
        "study": w.study,
    }
