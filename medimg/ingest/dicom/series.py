"""Group frame headers into series, order them along the slice normal, and decide on their geometry.

A SeriesInstanceUID is split into sub-series when its frames cannot share one volume: another
orientation, image size, localizer, echo, multi-frame stack, or a repeated acquisition. Each
geometry defect is then either repaired (the params say ``fix``) or sends the series to quarantine.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from medimg.config.schema import GeometryPolicy
from medimg.ingest.dicom.grid import StackGeometry, tilt_degrees
from medimg.ingest.dicom.headers import SliceHeader
from medimg.ingest.dicom.spacing import classify_spacing

DUPLICATE_MM = 1e-3
TILT_DEGREES = 0.1  # below this the drift is rounding in ImagePositionPatient


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


@dataclass(frozen=True)
class GeometryDecision:
    """How to build the volume: the slices to use, the fixes applied, and the grid to resample onto."""

    slices: list[SliceHeader]
    fixes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    spacing: float | None = None  # resample along the normal to this spacing; None: stack as is
    fix_drift: bool = False
    as_picture: bool = False  # a single slice kept as a 2D item
    problem: GeometryProblem | None = field(default=None)


def _stack_key(h: SliceHeader) -> str:
    """Frames that cannot share a volume differ here. Rows x Columns is not part of it: one stack
    with two matrix sizes is damaged (quarantined as inconsistent_size), not two stacks."""
    orientation = tuple(round(v, 3) for v in h.orientation) if h.orientation else None
    localizer = "LOCALIZER" in h.image_type
    return f"{orientation}|{'loc' if localizer else 'img'}|echo={h.echo}|stack={h.stack}"


def _split_key(h: SliceHeader) -> str:
    """The sub-series' name in its pseudonymous key. It keeps the matrix size it always had, so the
    keys (and the converted files named after them) stay the same across versions."""
    orientation, kind, rest = _stack_key(h).split("|", 2)
    return f"{orientation}|{h.rows}x{h.columns}|{kind}|{rest}"


def _split_acquisitions(slices: list[SliceHeader]) -> list[list[SliceHeader]]:
    """Separate repeated acquisitions (e.g. before and after contrast under one series UID).

    Some scanners number every slice as its own acquisition; those stay together, which is why a
    split happens only when each acquisition holds at least two slices.
    """
    by_acquisition: dict[str, list[SliceHeader]] = defaultdict(list)
    for s in slices:
        by_acquisition[s.acquisition].append(s)
    if len(by_acquisition) > 1 and all(len(group) >= 2 for group in by_acquisition.values()):
        return [by_acquisition[k] for k in sorted(by_acquisition)]
    return [slices]


def group_series(headers: list[SliceHeader]) -> list[SeriesPlan]:
    groups: dict[tuple[str, str], list[SliceHeader]] = defaultdict(list)
    for h in headers:
        groups[(h.series_uid, _stack_key(h))].append(h)
    plans = []
    for (uid, _), members in groups.items():
        parts = _split_acquisitions(members)
        for part in parts:
            suffix = f"|acq={part[0].acquisition}" if len(parts) > 1 else ""
            ordered = order_slices(part)
            plans.append(SeriesPlan(uid, _split_key(ordered[0]) + suffix, ordered))
    return sorted(plans, key=lambda p: (p.series_uid, p.split_key))


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    return np.cross(np.array(orientation[:3]), np.array(orientation[3:]))


def order_slices(slices: list[SliceHeader]) -> list[SliceHeader]:
    """Sort by position projected on the slice normal; file names and InstanceNumber are not trusted."""
    first = slices[0]
    if first.orientation is None or any(s.position is None for s in slices):
        return sorted(slices, key=lambda s: s.file_key)
    normal = slice_normal(first.orientation)
    return sorted(slices, key=lambda s: (float(np.dot(normal, s.position)), s.file_key))


def stack_geometry(slices: list[SliceHeader]) -> StackGeometry:
    first = slices[0]
    return StackGeometry(
        np.array([s.position for s in slices], dtype=float), first.orientation, first.pixel_spacing
    )


def _quarantine(code: str, reason: str, slices: list[SliceHeader]) -> GeometryDecision:
    return GeometryDecision(slices, problem=GeometryProblem(code, reason))


def _drop_duplicates(slices: list[SliceHeader]) -> tuple[list[SliceHeader], int]:
    geometry = stack_geometry(slices)
    offsets, drift = geometry.offsets(), geometry.drift()
    kept = [0]
    for k in range(1, len(slices)):
        same = abs(offsets[k] - offsets[kept[-1]]) < DUPLICATE_MM and np.allclose(
            drift[k], drift[kept[-1]], atol=0.01
        )
        if not same:
            kept.append(k)
    return [slices[k] for k in kept], len(slices) - len(kept)


def decide_geometry(plan: SeriesPlan, policy: GeometryPolicy) -> GeometryDecision:
    """Check one series' geometry; every defect is fixed or quarantines the series, as ``policy`` says."""
    slices = plan.slices
    first = slices[0]
    if any(s.samples != 1 for s in slices):
        return _quarantine(
            "color_volume", "colour (multi-sample) frames cannot form a CT/MR volume", slices
        )
    sizes = sorted({(s.rows, s.columns) for s in slices})
    if len(sizes) > 1:
        return _quarantine(
            "inconsistent_size", f"Rows x Columns differ between slices: {sizes}", slices
        )
    if not first.transfer_syntax:
        return _quarantine(
            "missing_transfer_syntax",
            "the file meta has no TransferSyntaxUID, so the pixel encoding is unknown",
            slices,
        )
    if any(
        not math.isfinite(s.slope) or s.slope == 0 or not math.isfinite(s.intercept) for s in slices
    ):
        return _quarantine(
            "bad_rescale",
            "RescaleSlope or RescaleIntercept is not a number, infinite, or a zero "
            "slope: stored values cannot be turned into HU",
            slices,
        )
    if len(slices) < 2:
        if policy.single_slice == "fix":
            return GeometryDecision(
                slices, fixes=("single_slice",), notes=("kept as a 2D item",), as_picture=True
            )
        return _quarantine("single_slice", "only one slice: not a 3D volume", slices)
    if first.orientation is None or any(s.position is None for s in slices):
        return _quarantine(
            "missing_geometry", "ImagePositionPatient or ImageOrientationPatient missing", slices
        )
    if first.pixel_spacing is None or min(first.pixel_spacing) <= 0:
        return _quarantine("bad_pixel_spacing", "PixelSpacing missing, zero or negative", slices)
    if any(s.pixel_spacing != first.pixel_spacing for s in slices):
        return _quarantine(
            "inconsistent_pixel_spacing", "PixelSpacing differs between slices", slices
        )
    if np.linalg.norm(slice_normal(first.orientation)) < 0.5:
        return _quarantine(
            "missing_geometry", "ImageOrientationPatient row and column are not orthogonal", slices
        )

    fixes, notes = [], []
    unique, dropped = _drop_duplicates(slices)
    if dropped:
        if policy.duplicate_positions == "quarantine":
            return _quarantine(
                "duplicate_positions",
                f"{dropped} slice(s) repeat a position already in the series",
                slices,
            )
        slices = unique
        fixes.append("duplicate_positions")
        notes.append(f"dropped {dropped} slice(s) at repeated positions")
        if len(slices) < 2:
            return _quarantine("single_slice", "only one distinct slice position", slices)

    geometry = stack_geometry(slices)
    tilt = tilt_degrees(geometry)
    fix_drift = tilt > TILT_DEGREES
    if fix_drift:
        if policy.gantry_tilt == "quarantine":
            return _quarantine("gantry_tilt", f"gantry tilt of {tilt:.1f} degrees", slices)
        fixes.append("gantry_tilt")
        notes.append(f"gantry tilt {tilt:.1f} degrees resampled onto an orthogonal grid")

    verdict = classify_spacing(np.diff(geometry.offsets()))
    spacing = None
    if verdict.kind != "uniform":
        if getattr(policy, verdict.kind) == "quarantine":
            return _quarantine(verdict.kind, verdict.description, slices)
        fixes.append(verdict.kind)
        notes.append(f"{verdict.description}: resampled to {verdict.spacing:.2f} mm")
        spacing = verdict.spacing
    return GeometryDecision(slices, tuple(fixes), tuple(notes), spacing, fix_drift)
