"""Volumes that arrive as files (NIfTI, NRRD, MetaImage), as public datasets ship them.

SimpleITK reads them with their geometry (spacing, origin, direction). A 4D file, or one file per
channel (nnU-Net's ``_0000``, ``_0001``), becomes one multi-channel 3D image. What cannot be a
training volume is an ItemProblem with its own reason code, never a guess.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medimg.io.problems import ItemProblem

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
GRID_TOLERANCE = 1e-3  # relative: spacing, origin and direction agree to 0.1%


def is_volume_file(path: Path) -> bool:
    return path.name.lower().endswith(VOLUME_SUFFIXES)


def _read(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError:
        raise ItemProblem(
            "unreadable_volume", f"{path.name} could not be read as an image"
        ) from None


def _as_channels(image: sitk.Image, name: str) -> list[sitk.Image]:
    """A 3D image's channels: one scalar 3D image each (a 4D file is split along its 4th axis)."""
    size = image.GetSize()
    if image.GetDimension() == 4:
        return [sitk.Extract(image, (*size[:3], 0), (0, 0, 0, t)) for t in range(size[3])]
    if image.GetDimension() != 3 or min(size) == 1:
        raise ItemProblem(
            "not_3d",
            f"{name} is a {image.GetDimension()}D image of size {size} where a 3D volume is expected",
        )
    if image.GetNumberOfComponentsPerPixel() > 1:
        return [
            sitk.VectorIndexSelectionCast(image, c)
            for c in range(image.GetNumberOfComponentsPerPixel())
        ]
    return [image]


def same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    """Same voxel grid: size, and spacing, origin and direction within GRID_TOLERANCE."""
    if a.GetSize() != b.GetSize():
        return False
    scale = max(1.0, *np.abs(a.GetOrigin()))
    return (
        np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=GRID_TOLERANCE)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=GRID_TOLERANCE * scale)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=GRID_TOLERANCE)
    )


def describe_grid(image: sitk.Image) -> str:
    spacing = " x ".join(f"{s:.3g}" for s in image.GetSpacing())
    origin = ", ".join(f"{o:.1f}" for o in image.GetOrigin())
    return f"{image.GetSize()} at {spacing} mm, origin ({origin})"


def read_volume(paths: list[Path]) -> sitk.Image:
    """One 3D image (float32, a vector image when there are several channels) from one file or one
    file per channel; ItemProblem when a file is unreadable, not 3D, off the first file's grid or
    holds NaN or infinite values."""
    channels: list[sitk.Image] = []
    for path in paths:
        for channel in _as_channels(_read(path), path.name):
            if channels and not same_grid(channel, channels[0]):
                raise ItemProblem(
                    "channel_grid_mismatch",
                    f"{path.name} is on another grid ({describe_grid(channel)}) than the first "
                    f"channel ({describe_grid(channels[0])})",
                )
            channels.append(sitk.Cast(channel, sitk.sitkFloat32))
    for index, channel in enumerate(channels):
        bad = int(np.count_nonzero(~np.isfinite(sitk.GetArrayViewFromImage(channel))))
        if bad:
            raise ItemProblem(
                "non_finite_values", f"channel {index} has {bad} NaN or infinite voxel(s)"
            )
    return channels[0] if len(channels) == 1 else sitk.Compose(channels)


def read_mask_volume(path: Path, reference: sitk.Image) -> sitk.Image:
    """A label volume that must lie on ``reference``'s grid, as uint8 labels."""
    mask = _read(path)
    if mask.GetDimension() != 3 or not same_grid(mask, reference):
        raise ItemProblem(
            "mask_grid_mismatch",
            f"mask {path.name} is on another grid ({describe_grid(mask)}) than its image "
            f"({describe_grid(reference)})",
        )
    values = sitk.GetArrayViewFromImage(mask)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 255:
        raise ItemProblem("bad_mask_values", f"mask {path.name} holds values outside 0-255")
    labels = sitk.Cast(mask, sitk.sitkUInt8)
    labels.CopyInformation(reference)
    return labels
