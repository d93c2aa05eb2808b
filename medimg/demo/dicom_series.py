"""Write a volume as a classic CT Image Storage series, one pydicom file per slice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

RESCALE_INTERCEPT = -1024.0


@dataclass(frozen=True)
class PatientIdentity:
    """Fake but realistic identifiers, so de-identification is tested on the demo itself."""

    name: str
    patient_id: str
    birth_date: str
    sex: str


@dataclass(frozen=True)
class StudyInfo:
    study_uid: str
    accession_number: str
    study_date: str
    institution: str
    manufacturer: str


def ct_slice_dataset(
    stored: np.ndarray,
    position: list[float],
    pixel_spacing_mm: float,
    slice_spacing_mm: float,
    patient: PatientIdentity,
    study: StudyInfo,
    series_uid: str,
    sop_uid: str,
    frame_uid: str,
    instance: int,
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
) -> Dataset:
    """One CT Image Storage slice as scanners write it: unsigned stored values, RescaleIntercept -1024."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.AccessionNumber = study.accession_number
    ds.StudyDate = ds.SeriesDate = study.study_date
    ds.InstitutionName = study.institution
    ds.ReferringPhysicianName = "REFERRER^DEMO"
    ds.Manufacturer = study.manufacturer
    ds.Modality = "CT"
    ds.StudyID = "1"
    ds.SeriesNumber = 2
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [round(float(v), 4) for v in position]
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    ds.SliceThickness = slice_spacing_mm
    ds.SliceLocation = round(float(position[2]), 4)
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = RESCALE_INTERCEPT
    ds.RescaleSlope = 1.0
    ds.RescaleType = "HU"
    ds.WindowCenter, ds.WindowWidth = -600, 1500
    ds.PixelData = stored.astype(np.uint16).tobytes()
    return ds


def hu_to_stored(hu: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(hu - RESCALE_INTERCEPT), 0, 4095).astype(np.uint16)


def centred_origin(
    shape: tuple[int, int, int], pixel_spacing_mm: float, slice_spacing_mm: float
) -> np.ndarray:
    """LPS position of the first voxel of a volume centred on the patient origin."""
    slices, rows, cols = shape
    return np.array(
        [
            -(cols - 1) / 2 * pixel_spacing_mm,
            -(rows - 1) / 2 * pixel_spacing_mm,
            -(slices - 1) / 2 * slice_spacing_mm,
        ]
    )


def write_ct_series(
    hu: np.ndarray,
    pixel_spacing_mm: float,
    slice_spacing_mm: float,
    patient: PatientIdentity,
    study: StudyInfo,
    series_uid: str,
    file_paths: list[Path],
    uid_entropy: str,
) -> None:
    """Write ``hu`` (z, y, x) as one DICOM file per slice at ``file_paths`` (any names, any order)."""
    stored = hu_to_stored(hu)
    frame_uid = generate_uid(entropy_srcs=[uid_entropy, "frame"])
    origin = centred_origin(hu.shape, pixel_spacing_mm, slice_spacing_mm)
    for k in range(hu.shape[0]):
        sop_uid = generate_uid(entropy_srcs=[uid_entropy, str(k)])
        position = origin + [0.0, 0.0, k * slice_spacing_mm]
        ds = ct_slice_dataset(
            stored[k],
            list(position),
            pixel_spacing_mm,
            slice_spacing_mm,
            patient,
            study,
            series_uid,
            sop_uid,
            frame_uid,
            k + 1,
        )
        ds.save_as(file_paths[k], enforce_file_format=True)
