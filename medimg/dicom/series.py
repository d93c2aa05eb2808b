"""Group slice headers into series, order them along the slice normal, check geometry, read voxels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from medimg.dicom.headers import SliceHeader


@dataclass
class SeriesPlan:
    """One (sub-)series to convert. ``split_key`` separates sub-series inside one SeriesInstanceUID."""

    series_uid: str
    split_key: str
    slices: list[SliceHeader]

    @property
    def first(self) -> SliceHeader:
        return self.slices[0]


@dataclass(frozen=True)
class GeometryProblem:
    code: str
    reason: str


def _split_key(h: SliceHeader) -> str:
    """Slices of one series that cannot share a volume: other orientation, size or a localizer."""
    orientation = tuple(round(v, 3) for v in h.orientation) if h.orientation else None
    localizer = "LOCALIZER" in h.image_type
    return f"{orientation}|{h.rows}x{h.columns}|{'loc' if localizer else 'img'}"


def group_series(headers: list[SliceHeader]) -> list[SeriesPlan]:
    groups: dict[tuple[str, str], list[SliceHeader]] = defaultdict(list)
    for h in headers:
        groups[(h.series_uid, _split_key(h))].append(h)
    plans = [SeriesPlan(uid, key, order_slices(slices)) for (uid, key), slices in groups.items()]
    return sorted(plans, key=lambda p: (p.series_uid, p.split_key))


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    return np.cross(row, col)


def order_slices(slices: list[SliceHeader]) -> list[SliceHeader]:
    """Sort by position projected on the slice normal; file names and InstanceNumber are not trusted."""
    first = slices[0]
    if first.orientation is None or any(s.position is None for s in slices):
        return sorted(slices, key=lambda s: s.path)
    normal = slice_normal(first.orientation)
    return sorted(slices, key=lambda s: (float(np.dot(normal, s.position)), s.path))


def slice_offsets(plan: SeriesPlan) -> np.ndarray:
    normal = slice_normal(plan.first.orientation)
    return np.array([np.dot(normal, s.position) for s in plan.slices])


def check_geometry(plan: SeriesPlan) -> GeometryProblem | None:
    """The first reason this series cannot become a trustworthy 3D volume, or None."""
    if plan.first.frames > 1:
        return GeometryProblem("multiframe_unsupported", "multi-frame object; not converted yet")
    if len(plan.slices) < 2:
        return GeometryProblem("single_slice", "only one slice: not a 3D volume")
    if plan.first.orientation is None or any(s.position is None for s in plan.slices):
        return GeometryProblem("missing_geometry", "ImagePositionPatient or ImageOrientationPatient missing")
    if plan.first.pixel_spacing is None or min(plan.first.pixel_spacing) <= 0:
        return GeometryProblem("bad_pixel_spacing", "PixelSpacing missing or not positive")
    steps = np.diff(slice_offsets(plan))
    if np.any(steps < 1e-3):
        return GeometryProblem("duplicate_positions", f"{int(np.sum(steps < 1e-3))} slice(s) share a position")
    median = float(np.median(steps))
    if np.any(steps > 1.5 * median):
        return GeometryProblem("missing_slices", f"gap of {steps.max():.2f} mm with median spacing {median:.2f} mm")
    if np.ptp(steps) > 0.05 * median:
        return GeometryProblem("nonuniform_spacing", f"slice spacing varies {steps.min():.2f}-{steps.max():.2f} mm")
    return None


def read_series(plan: SeriesPlan) -> sitk.Image:
    """The series as one image in world geometry (LPS), rescaled to modality units (HU for CT).

    SimpleITK's GDCM reader applies RescaleSlope/Intercept and takes spacing along the sorted
    positions. The result is rebuilt from the array so no DICOM metadata rides along into outputs.
    """
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([s.path for s in plan.slices])
    image = reader.Execute()
    clean = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image).copy())
    clean.CopyInformation(image)
    return clean
