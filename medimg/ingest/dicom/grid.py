"""Put ordered slices on a regular, orthogonal grid: the geometry a NIfTI volume can represent.

A clean series only needs stacking. Gantry tilt (slices shifted in-plane as they advance), gaps and
uneven spacing need resampling: each slice is moved back in-plane onto the first slice's grid (the
shear correction dcm2niix applies for tilt) and the stack is interpolated linearly onto evenly
spaced positions along the slice normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


@dataclass(frozen=True)
class StackGeometry:
    """World geometry of ordered slices, from their headers (positions in mm, LPS)."""

    positions: np.ndarray  # (n, 3)
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, float]  # DICOM order: between rows, between columns

    @property
    def row_axis(self) -> np.ndarray:
        return np.asarray(self.orientation[:3], dtype=float)

    @property
    def column_axis(self) -> np.ndarray:
        return np.asarray(self.orientation[3:], dtype=float)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_axis, self.column_axis)

    def offsets(self) -> np.ndarray:
        """Each slice's distance from the first along the normal (mm)."""
        return (self.positions - self.positions[0]) @ self.normal

    def drift(self) -> np.ndarray:
        """Each slice's in-plane displacement from the first, as (along columns, along rows) in mm."""
        delta = self.positions - self.positions[0]
        return np.stack([delta @ self.column_axis, delta @ self.row_axis], axis=1)


def tilt_degrees(geometry: StackGeometry) -> float:
    """Angle between the slice normal and the direction the stack advances (0 for an untilted series)."""
    offsets = geometry.offsets()
    span = offsets[-1] - offsets[0]
    if span <= 0:
        return 0.0
    shift = float(np.linalg.norm(geometry.drift()[-1] - geometry.drift()[0]))
    return float(np.degrees(np.arctan2(shift, span)))


def correct_drift(planes: np.ndarray, geometry: StackGeometry, fill: float) -> np.ndarray:
    """Shift each slice in-plane so all share the first slice's grid (linear interpolation)."""
    row_mm, col_mm = geometry.pixel_spacing
    out = np.empty(planes.shape, dtype=np.float32)
    for k, (down, across) in enumerate(geometry.drift()):
        # drift along the column axis moves content down the rows, along the row axis across columns
        out[k] = ndimage.shift(
            planes[k].astype(np.float32),
            (down / row_mm, across / col_mm),
            order=1,
            mode="constant",
            cval=fill,
        )
    return out


def resample_along_normal(planes: np.ndarray, offsets: np.ndarray, spacing: float) -> np.ndarray:
    """Linear interpolation of slices at ``offsets`` onto ``0, spacing, 2*spacing...`` up to the last one."""
    count = int(np.floor(offsets[-1] / spacing + 0.5)) + 1
    targets = np.arange(count) * spacing
    upper = np.clip(np.searchsorted(offsets, targets, side="right"), 1, len(offsets) - 1)
    lower = upper - 1
    gap = offsets[upper] - offsets[lower]
    weight = np.clip((targets - offsets[lower]) / np.where(gap > 0, gap, 1), 0, 1)
    shape = (-1,) + (1,) * (planes.ndim - 1)
    return (
        planes[lower] * (1 - weight).reshape(shape) + planes[upper] * weight.reshape(shape)
    ).astype(np.float32)


def to_image(volume: np.ndarray, geometry: StackGeometry, slice_spacing: float) -> sitk.Image:
    """A SimpleITK image (z, y, x array) with the stack's origin, spacing and direction; no other metadata."""
    image = sitk.GetImageFromArray(volume)
    row_mm, col_mm = geometry.pixel_spacing
    image.SetSpacing((col_mm, row_mm, slice_spacing))
    image.SetOrigin(tuple(float(v) for v in geometry.positions[0]))
    axes = np.stack([geometry.row_axis, geometry.column_axis, geometry.normal], axis=1)
    image.SetDirection(tuple(float(v) for v in axes.ravel()))
    return image


def regular_volume(
    planes: np.ndarray, geometry: StackGeometry, spacing: float | None, fix_drift: bool
) -> tuple[np.ndarray, float]:
    """(volume, slice spacing): plain stacking when ``spacing`` is None, else resampled to it."""
    offsets = geometry.offsets()
    if spacing is None and not fix_drift:
        return planes, float(offsets[-1] / (len(offsets) - 1))
    dtype = planes.dtype
    work = (
        correct_drift(planes, geometry, float(planes.min()))
        if fix_drift
        else planes.astype(np.float32)
    )
    if spacing is not None:
        work = resample_along_normal(work, offsets, spacing)
    else:
        spacing = float(offsets[-1] / (len(offsets) - 1))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        work = np.clip(np.rint(work), info.min, info.max)
    return work.astype(dtype), spacing
