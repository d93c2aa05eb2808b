"""What the steps between a stack's slices say: uniform, missing slices, or spacing that changes.

Two defects look alike in the median and must not be confused:

- **missing slices**: a regular stack with one or a few isolated steps that are whole multiples of
  its spacing (a slice or two never arrived). Interpolating across the gap restores the stack.
- **non-uniform spacing**: the spacing itself changes, in zones (a head CT at 1 mm through the skull
  base and 5-7 mm above it, as GE and others acquire) or jitters from slice to slice. dcm2niix
  equalises such a series by resampling; counting its wide zone as "missing slices" is wrong.

Every sentence reports figures that are true of the series: the regular spacing, the gaps, the
zones and how many steps each one spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

UNIFORM_TOLERANCE = 0.05  # steps within 5% of each other count as the same spacing
MULTIPLE_TOLERANCE = 0.15  # a gap is within 15% of a whole multiple (>= 2) of the regular spacing
MAX_GAP_SHARE = 0.2  # more gap steps than this share of the stack is not "a few missing slices"


@dataclass(frozen=True)
class SpacingVerdict:
    kind: Literal["uniform", "missing_slices", "nonuniform_spacing"]
    spacing: float  # the spacing to resample onto (mm): the regular one, or the median
    missing: int  # slices missing in the gaps (missing_slices only)
    description: str  # one sentence with the series' own figures


def spacing_zones(steps: np.ndarray) -> list[tuple[float, int]]:
    """Runs of consecutive steps that agree within UNIFORM_TOLERANCE: (mean spacing, step count)."""
    zones: list[list[float]] = []
    for step in steps:
        if zones and abs(step - np.mean(zones[-1])) <= UNIFORM_TOLERANCE * max(
            step, np.mean(zones[-1])
        ):
            zones[-1].append(float(step))
        else:
            zones.append([float(step)])
    return [(float(np.mean(zone)), len(zone)) for zone in zones]


def _regular_spacing(steps: np.ndarray) -> float:
    """The spacing most steps share (within tolerance): the stack's own spacing."""
    agree = np.abs(steps[:, None] - steps[None, :]) <= UNIFORM_TOLERANCE * steps[:, None]
    return float(np.mean(steps[agree[int(np.argmax(agree.sum(1)))]]))


def classify_spacing(steps: np.ndarray) -> SpacingVerdict:
    """Tell a uniform stack from one with missing slices or with spacing that changes."""
    steps = np.asarray(steps, dtype=float)
    median = float(np.median(steps))
    if np.ptp(steps) <= UNIFORM_TOLERANCE * median:
        return SpacingVerdict("uniform", median, 0, f"uniform {median:.2f} mm spacing")
    regular = _regular_spacing(steps)
    off = np.abs(steps - regular) > UNIFORM_TOLERANCE * regular
    ratios = steps[off] / regular
    whole = np.round(ratios)
    isolated = all(not (off[i] and off[i + 1]) for i in range(len(off) - 1))
    if (
        np.all(whole >= 2)
        and np.all(np.abs(ratios - whole) <= MULTIPLE_TOLERANCE)
        and isolated
        and off.sum() <= max(2, MAX_GAP_SHARE * len(steps))
    ):
        missing = int(np.sum(whole - 1))
        gaps = ", ".join(f"{gap:.2f}" for gap in steps[off])
        return SpacingVerdict(
            "missing_slices",
            regular,
            missing,
            f"{int(off.sum())} gap(s) of {gaps} mm in a stack spaced {regular:.2f} mm "
            f"({missing} slice(s) missing)",
        )
    zones = [(spacing, count) for spacing, count in spacing_zones(steps) if count >= 2]
    if len({round(spacing, 1) for spacing, _ in zones}) >= 2:
        listed = ", ".join(f"{spacing:.2f} mm x {count}" for spacing, count in zones)
        return SpacingVerdict(
            "nonuniform_spacing",
            median,
            0,
            f"slice spacing changes between zones ({listed} steps; "
            f"{steps.min():.2f}-{steps.max():.2f} mm in all)",
        )
    return SpacingVerdict(
        "nonuniform_spacing",
        median,
        0,
        f"slice spacing varies {steps.min():.2f}-{steps.max():.2f} mm from slice to slice "
        f"(median {median:.2f} mm)",
    )
