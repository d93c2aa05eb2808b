"""Anatomical masks computed from HU, used to crop and to blank what a model should not look at."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LUNG_THRESHOLD_HU = -320.0


def lung_mask(hu: np.ndarray, threshold: float = LUNG_THRESHOLD_HU) -> np.ndarray:
    """Boolean (z, y, x) lung mask: air-like voxels not connected to the in-plane border, holes filled.

    The outside air touches the in-plane border and is dropped; the lungs may touch the first and
    last slice, so z borders do not count. Holes are filled slice by slice, which puts nodules and
    vessels (denser than -320 HU but enclosed by lung) back inside the mask.
    """
    air = hu < threshold
    labels, count = ndimage.label(air)
    if count == 0:
        return np.zeros(hu.shape, dtype=bool)
    border = np.unique(
        np.concatenate(
            [
                labels[:, 0, :].ravel(),
                labels[:, -1, :].ravel(),
                labels[:, :, 0].ravel(),
                labels[:, :, -1].ravel(),
            ]
        )
    )
    inner = air & ~np.isin(labels, border)
    return np.stack([ndimage.binary_fill_holes(s) for s in inner])


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Array slices around the mask's voxels widened by ``margin``, or None for an empty mask."""
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(
            slice(
                max(int(present[0]) - margin, 0),
                min(int(present[-1]) + 1 + margin, mask.shape[axis]),
            )
        )
    return tuple(box)
