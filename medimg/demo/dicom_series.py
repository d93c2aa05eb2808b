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
    """Write ``hu`` (z, y, x) as one DICOM file per slice at ``file_paths`` (any names, any order).

    Stored values are unsigned with RescaleIntercept -1024, as most scanners write CT.
    """
    slices, rows, cols = hu.shape
    stored = np.clip(np.rint(hu - RESCALE_INTERCEPT), 0, 4095).astype(np.uint16)
    frame_uid = generate_uid(entropy_srcs=[uid_entropy, "frame"])
    origin_x = -(cols - 1) / 2 * pixel_spacing_mm
    origin_y = -(rows - 1) / 2 * pixel_spacing_mm
    origin_z = -(slices - 1) / 2 * slice_spacing_mm
    for k in range(slices):
        sop_uid = generate_uid(entropy_srcs=[uid_entropy, str(k)])
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
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [round(origin_x, 4), round(origin_y, 4), round(origin_z + k * slice_spacing_mm, 4)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
        ds.SliceThickness = slice_spacing_mm
        ds.SliceLocation = round(origin_z + k * slice_spacing_mm, 4)
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = RESCALE_INTERCEPT
        ds.RescaleSlope = 1.0
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = -600, 1500
        ds.PixelData = stored[k].tobytes()
        ds.save_as(file_paths[k], enforce_file_format=True)
