"""2D items: PNG/JPEG photographs and single DICOM pictures (radiographs, secondary captures).

Each becomes a 2D SimpleITK image (RGB as a 3-component vector image) that carries spacing only:
no file metadata (EXIF, DICOM text) travels with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medimg.io.problems import ItemProblem

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")  # photographs, and masks drawn on them


class PictureError(ItemProblem):
    """A picture file that cannot be read as a 2D image."""


def picture_image(pixels: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> sitk.Image:
    """(rows, cols) or (rows, cols, channels) array → 2D image; ``spacing`` is (row, column) in mm."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3):
        raise PictureError("bad_shape", f"a picture must be 2D, got shape {pixels.shape}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(pixels), isVector=pixels.ndim == 3)
    image.SetSpacing((float(spacing[1]), float(spacing[0])))
    return image


def read_picture_file(path: Path) -> sitk.Image:
    """A PNG or JPEG as a clean 2D image (grey stays one channel; an alpha channel is dropped)."""
    try:
        loaded = sitk.ReadImage(str(path))
    except RuntimeError:
        raise PictureError("unreadable_picture", "not a readable PNG/JPEG image") from None
    pixels = sitk.GetArrayFromImage(loaded)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    if (
        pixels.ndim == 3
        and pixels.shape[2] == 3
        and np.array_equal(pixels[..., 0], pixels[..., 1])
        and np.array_equal(pixels[..., 0], pixels[..., 2])
    ):
        pixels = pixels[..., 0]  # grey saved as RGB
    return picture_image(pixels)
