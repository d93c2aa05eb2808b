"""One planned series (or DICOM picture) to one clean SimpleITK image in world geometry."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from medimg.config.schema import GeometryPolicy
from medimg.ingest.dicom.grid import regular_volume, to_image
from medimg.ingest.dicom.headers import SliceHeader, find_candidate_files
from medimg.ingest.dicom.pixels import read_slices
from medimg.ingest.dicom.scanner import scan_headers
from medimg.ingest.dicom.series import (
    GeometryDecision,
    decide_geometry,
    group_series,
    stack_geometry,
)
from medimg.io.pictures import picture_image
from medimg.io.problems import ItemProblem


def decision_to_image(decision: GeometryDecision) -> sitk.Image:
    """Decode the decision's slices and put them on its grid; rescale and MONOCHROME1 already applied."""
    planes = read_slices(decision.slices)
    if decision.as_picture:
        return dicom_picture_image(decision.slices[0], planes[0])
    geometry = stack_geometry(decision.slices)
    volume, spacing = regular_volume(planes, geometry, decision.spacing, decision.fix_drift)
    return to_image(volume, geometry, spacing)


def dicom_picture_image(header: SliceHeader, pixels) -> sitk.Image:
    return picture_image(pixels, header.pixel_spacing or (1.0, 1.0))


def read_dicom_picture(header: SliceHeader) -> sitk.Image:
    return dicom_picture_image(header, read_slices([header])[0])


def read_folder_series(
    folder: Path, policy: GeometryPolicy
) -> list[tuple[sitk.Image, list[SliceHeader]]]:
    """Every series in ``folder`` that converts under ``policy``, as ingest would convert it, with
    the headers of the frames it was built from (what a DICOM result must reference)."""
    files = find_candidate_files(folder).dicom
    headers = [
        h for h in scan_headers(files, workers=1) if isinstance(h, SliceHeader) and not h.is_picture
    ]
    series = []
    for plan in group_series(headers):
        decision = decide_geometry(plan, policy)
        if decision.problem is None and not decision.as_picture:
            try:
                series.append((decision_to_image(decision), list(decision.slices)))
            except ItemProblem:
                continue
    return series


def read_folder_volumes(folder: Path, policy: GeometryPolicy) -> list[sitk.Image]:
    """Every series in ``folder`` that converts under ``policy``, as ingest would convert it."""
    return [image for image, _ in read_folder_series(folder, policy)]
