"""Convert one planned item (a DICOM series, a DICOM picture, a PNG/JPEG, or a volume file) into a
manifest row.

The row holds pseudonymous keys, geometry, checksum and status; the image is written to
``volumes/<series_key>.nii.gz`` (and its mask to ``masks/``) atomically. Problems become a
quarantined row with a reason code and a sentence, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import SimpleITK as sitk

from medimg.config.schema import GeometryPolicy
from medimg.ingest.dicom.convert import decision_to_image, read_dicom_picture
from medimg.ingest.dicom.headers import SliceHeader
from medimg.ingest.dicom.series import SeriesPlan, decide_geometry
from medimg.ingest.labels import LabelEntry
from medimg.io.code_digest import running_code_digest
from medimg.io.masks import mask_on_grid
from medimg.io.pictures import read_picture_file
from medimg.io.problems import ItemProblem
from medimg.io.volume_files import read_mask_volume, read_volume
from medimg.io.volumes import content_checksum, geometry, write_nifti

# the module that converts an item: its code and all it imports are in every item's fingerprint
CONVERSION_MODULES = ("medimg.ingest.conversion",)


@dataclass(frozen=True)
class ItemJob:
    kind: Literal["series", "dicom_picture", "picture_file", "volume_file"]
    keys: dict[str, str]
    out_dir: Path
    policy: GeometryPolicy
    compression_level: int
    plan: SeriesPlan | None = None
    picture: Path | None = None
    volume_files: tuple[Path, ...] = ()  # a volume file, or one file per channel
    modality: str = ""  # what a volume file holds (dataset.json's channel name), "" when unknown
    label: LabelEntry | None = None
    fingerprint: str = ""

    @property
    def source_files(self) -> list[str]:
        if self.plan is not None:
            return sorted({s.path for s in self.plan.slices})
        if self.volume_files:
            return [str(path) for path in self.volume_files]
        return [str(self.picture)]


def fingerprint(job: ItemJob, raw_dir: Path) -> str:
    """Changes when any source file (name, size, mtime), the mask, a conversion setting or the code
    that converts changes."""
    digest = hashlib.sha256(
        json.dumps(
            [
                running_code_digest(CONVERSION_MODULES),
                job.kind,
                job.policy.model_dump(),
                job.compression_level,
            ]
        ).encode()
    )
    files = job.source_files + ([str(job.label.mask)] if job.label and job.label.mask else [])
    for name in files:
        try:
            stat = os.stat(name)
            state = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            state = "missing"
        digest.update(f"{os.path.relpath(name, raw_dir)}|{state}\n".encode())
    if job.plan is not None:
        digest.update(repr([s.frame for s in job.plan.slices]).encode())
    return digest.hexdigest()


def _units(modality: str) -> str:
    return "HU" if modality == "CT" else "arbitrary"


def _base_row(job: ItemJob) -> dict:
    first: SliceHeader | None = job.plan.first if job.plan else None
    if first is not None:
        modality = first.modality
    elif job.kind == "volume_file":
        modality = job.modality or "OT"  # DICOM's "other": the file does not say
    else:
        modality = "photo"
    return {
        **job.keys,
        "modality": modality,
        "manufacturer": first.manufacturer if first else "",
        "ndim": 3 if job.kind in ("series", "volume_file") else 2,
        "n_files": len(job.source_files),
        "units": _units(modality),
        "label": job.label.label if job.label else None,
        "status": "ok",
        "reason_code": "",
        "reason": "",
        "fixes": "",
        "source_fingerprint": job.fingerprint,
    }


def _quarantined(row: dict, code: str, reason: str) -> dict:
    return {**row, "status": "quarantined", "reason_code": code, "reason": reason}


def _image_of(job: ItemJob, row: dict) -> sitk.Image:
    if job.kind == "volume_file":
        return read_volume(list(job.volume_files))
    if job.kind == "picture_file":
        return read_picture_file(job.picture)
    if job.kind == "dicom_picture":
        return read_dicom_picture(job.plan.first)
    decision = decide_geometry(job.plan, job.policy)
    if decision.problem:
        raise ItemProblem(decision.problem.code, decision.problem.reason)
    if decision.as_picture:
        row["ndim"] = 2
    row.update(
        fixes=";".join(decision.fixes),
        reason="; ".join(decision.notes),
        n_files=len({s.path for s in decision.slices}),
    )
    return decision_to_image(decision)


def convert_item(job: ItemJob) -> dict:
    """One manifest row for one item: converted, or quarantined with its reason."""
    row = _base_row(job)
    try:
        image = _image_of(job, row)
    except ItemProblem as exc:
        return _quarantined(row, exc.code, exc.reason)
    volume_path = job.out_dir / "volumes" / f"{job.keys['series_key']}.nii.gz"
    row.update(
        geometry(image),
        channels=image.GetNumberOfComponentsPerPixel(),
        volume_path=str(volume_path.relative_to(job.out_dir)),
        checksum=content_checksum(image),
    )
    if job.label and job.label.mask:
        try:
            if (
                job.kind == "volume_file"
            ):  # a dataset's label map: on the image's own grid, or wrong
                mask = read_mask_volume(job.label.mask, image)
            else:
                mask = mask_on_grid(job.label.mask, image)
        except ItemProblem as exc:  # the volume is not written, so the row must not point at it
            return _quarantined({**row, "volume_path": None}, exc.code, exc.reason)
        mask_path = job.out_dir / "masks" / f"{job.keys['series_key']}.nii.gz"
        write_nifti(mask, mask_path, job.compression_level)
        if (
            row["label"] is None
        ):  # a segmentation dataset: the label says whether the structure is there
            row["label"] = int(sitk.GetArrayViewFromImage(mask).any())
        row["mask_path"] = str(mask_path.relative_to(job.out_dir))
    write_nifti(image, volume_path, job.compression_level)
    return row
