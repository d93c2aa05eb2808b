"""Plant canary identifiers in a DICOM tree: in every identifying tag and in folder and file names."""

from __future__ import annotations

import csv
from pathlib import Path

import pydicom

UID_ROOT = "1.2.826.0.1.3680043.10.1137."  # every canary UID starts here
BIRTH_DATE = "18770503"
WORD = "CANARY"


def canary_uid(old: str, table: dict[str, str]) -> str:
    """The same canary UID for the same original, so series and studies stay together."""
    return table.setdefault(old, f"{UID_ROOT}{len(table) + 1}")


MARKERS = [WORD, WORD.lower(), UID_ROOT, BIRTH_DATE]  # every planted value contains one of these


def plant_canaries(source: Path, target: Path) -> set[str]:
    """Copy the DICOM tree ``source`` (with labels.csv and masks/) to ``target``, every identifier
    replaced by a canary value and every folder and file renamed after one. Returns the planted
    values; each contains one of :data:`MARKERS`, which is what outputs are searched for."""
    planted: set[str] = set()
    uids: dict[str, str] = {}
    patients: dict[str, int] = {}
    for number, path in enumerate(
        sorted(
            p
            for p in source.rglob("*")
            if p.is_file() and p.parent.name != "masks" and p.suffix != ".csv"
        )
    ):
        ds = pydicom.dcmread(path)
        patient = patients.setdefault(str(ds.PatientID), len(patients) + 1)
        ds.PatientName = f"{WORD}^PATIENT{patient:03d}"
        ds.PatientID = f"{WORD}PID{patient:03d}"
        ds.PatientBirthDate, ds.PatientAddress = BIRTH_DATE, f"{WORD} STREET {patient}"
        ds.OtherPatientIDs = f"{WORD}OTHER{patient:03d}"
        ds.AccessionNumber = f"{WORD}ACC{patient:03d}"
        ds.InstitutionName, ds.ReferringPhysicianName = (
            f"{WORD} GENERAL HOSPITAL",
            f"{WORD}^REFERRER",
        )
        ds.StudyID, ds.StationName = f"{WORD}ST{patient}", f"{WORD}STATION"
        for keyword in (
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "FrameOfReferenceUID",
        ):
            setattr(ds, keyword, canary_uid(str(getattr(ds, keyword)), uids))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        planted |= {
            str(ds.get(k))
            for k in (
                "PatientName",
                "PatientID",
                "PatientBirthDate",
                "PatientAddress",
                "OtherPatientIDs",
                "AccessionNumber",
                "InstitutionName",
                "ReferringPhysicianName",
                "StudyID",
                "StationName",
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPInstanceUID",
                "FrameOfReferenceUID",
            )
        }
        out = (
            target
            / f"{WORD}PID{patient:03d}_SMITH"
            / f"{WORD}ACC{patient:03d}_{ds.SeriesNumber}"
            / f"{WORD}_{ds.PatientName}_{number:04d}.dcm"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out, enforce_file_format=True)
        planted |= {out.name, out.parent.name, out.parent.parent.name}
    with open(source / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["series_instance_uid"] = uids[row["series_instance_uid"]]
        row["patient_id"] = f"{WORD}PID{patients[row['patient_id']]:03d}"
    with open(target / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (target / "masks").mkdir()
    for mask in (source / "masks").iterdir():
        (target / "masks" / mask.name).write_bytes(mask.read_bytes())
    assert all(any(m in value for m in MARKERS) for value in planted)
    return planted
