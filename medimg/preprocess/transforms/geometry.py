"""Geometric transforms on SimpleITK images: reorientation, body crop, resampling to a shape.

They keep world geometry (origin, spacing, direction) exact, so masks and images stay aligned.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from medimg.preprocess.transforms.masks import bounding_box

BODY_THRESHOLD_HU = -500.0


def to_canonical(image: sitk.Image) -> sitk.Image:
    """Reorient to LPS so array axes (z, y, x) mean the same anatomy for every scanner."""
    return sitk.DICOMOrient(image, "LPS")


def body_bounding_box(hu: np.ndarray, threshold: float = BODY_THRESHOLD_HU) -> tuple[slice, ...]:
    """Array slices (z, y, x) around voxels denser than air; the whole array if there are none."""
    return bounding_box(hu > threshold) or tuple(slice(0, n) for n in hu.shape)


def crop(image: sitk.Image, box: tuple[slice, ...]) -> sitk.Image:
    """Crop with array-order (z, y, x) slices; SimpleITK indexes (x, y, z) and keeps geometry."""
    z, y, x = box
    return image[x.start : x.stop, y.start : y.stop, z.start : z.stop]


def resample_to_shape(
    image: sitk.Image,
    shape_zyx: list[int],
    interpolator: int = sitk.sitkLinear,
    antialias: bool = True,
) -> sitk.Image:
    """Resample onto a grid of ``shape_zyx`` voxels spanning the same physical extent.

    Downsampling first blurs with a Gaussian matched to the new spacing, so small structures
    (a nodule of one or two output voxels) survive as a bump instead of aliasing away.
    """
    old_size = np.array(image.GetSize(), dtype=float)
    old_spacing = np.array(image.GetSpacing())
    new_size = np.array(list(reversed(shape_zyx)), dtype=float)
    new_spacing = old_spacing * old_size / new_size
    if antialias and interpolator != sitk.sitkNearestNeighbor:
        sigma = np.sqrt(np.clip(new_spacing**2 - old_spacing**2, 0, None)) / 2.355
        for axis in np.flatnonzero(sigma > 0):  # axes that are not downsampled stay sharp
            image = sitk.RecursiveGaussian(
                sitk.Cast(image, sitk.sitkFloat32), float(sigma[axis]), direction=int(axis)
            )
    # keep the outer edges of the field of view where they were
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin()) + direction @ ((new_spacing - old_spacing) / 2)
    return sitk.Resample(
        image,
        [int(n) for n in new_size],
        sitk.Transform(),
        interpolator,
        origin.tolist(),
        new_spacing.tolist(),
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
    )


def resample_to_spacing(
    image: sitk.Image,
    spacing_zyx: list[float],
    interpolator: int = sitk.sitkLinear,
    default: float = 0.0,
) -> sitk.Image:
    """Resample onto ``spacing_zyx`` (mm) covering the same physical extent; world positions are kept.

    The first voxel centre stays where it was, so a mask resampled with nearest-neighbour on the
    same call stays aligned with its image.
    """
    old_spacing = np.array(image.GetSpacing())
    new_spacing = np.array(list(reversed(spacing_zyx)), dtype=float)
    extent = old_spacing * (np.array(image.GetSize()) - 1)
    new_size = [int(n) for n in np.floor(extent / new_spacing + 1e-6).astype(int) + 1]
    output = sitk.sitkUInt8 if interpolator == sitk.sitkNearestNeighbor else sitk.sitkFloat32
    return sitk.Resample(
        image,
        new_size,
        sitk.Transform(),
        interpolator,
        image.GetOrigin(),
        new_spacing.tolist(),
        image.GetDirection(),
        default,
        output,
    )


def window_start(want: int, middle: float) -> int:
    """First array index of a ``want``-voxel window whose voxel centres are symmetric about ``middle``."""
    return int(np.floor(middle - (want - 1) / 2 + 0.5))


def crop_or_pad(
    volume: np.ndarray, shape: list[int], centre: list[float], fill: float
) -> np.ndarray:
    """A ``shape`` window of ``volume`` centred on ``centre`` (array index), padded with ``fill`` outside."""
    out = np.full(shape, fill, dtype=volume.dtype)
    source, target = [], []
    for size, want, middle in zip(volume.shape, shape, centre):
        start = window_start(want, middle)
        lo, hi = max(start, 0), min(start + want, size)
        if hi <= lo:
            return out
        source.append(slice(lo, hi))
        target.append(slice(lo - start, hi - start))
    out[tuple(target)] = volume[tuple(source)]
    return out
