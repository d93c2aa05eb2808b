"""Label masks onto their image's grid: NIfTI (any grid in the same world), PNG, or DICOM SEG."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import SimpleITK as sitk

from medimg.io.pictures import PICTURE_SUFFIXES, PictureError, read_picture_file
from medimg.io.problems import ItemProblem
from medimg.io.volume_files import is_volume_file


class MaskError(ItemProblem):
    """A mask that is missing, unreadable or does not fit its image."""


def resample_mask_to(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Nearest-neighbour resampling of a label mask onto ``reference``'s grid (world positions kept)."""
    return sitk.Resample(
        mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )


def _picture_mask(path: Path, reference: sitk.Image) -> sitk.Image:
    try:
        picture = read_picture_file(path)
    except PictureError as exc:
        raise MaskError("unreadable_mask", f"mask {exc.reason}") from None
    values = sitk.GetArrayFromImage(picture)
    values = values.max(axis=-1) if values.ndim == 3 else values
    if values.shape != tuple(reversed(reference.GetSize())):
        raise MaskError(
            "mask_size_mismatch",
            f"mask is {values.shape[::-1]} pixels, image {reference.GetSize()}",
        )
    mask = sitk.GetImageFromArray((values > 0).astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def _dicom_seg_mask(path: Path, reference: sitk.Image) -> sitk.Image:
    """A DICOM SEG (read by highdicom) whose frames lie on the reference's slices; voxel value =
    segment number."""
    try:
        volume = hd.seg.segread(path).get_volume(combine_segments=True, dtype=np.uint8)
    except Exception as exc:  # not a SEG, undecodable frames, overlapping segments: all unreadable
        raise MaskError(
            "unreadable_mask", f"DICOM SEG could not be read ({type(exc).__name__})"
        ) from None
    size = reference.GetSize()
    rows, columns = volume.array.shape[1:3]
    if (rows, columns) != (size[1], size[0]):
        raise MaskError(
            "mask_size_mismatch",
            f"SEG frames are {columns}x{rows}, image {size[0]}x{size[1]}",
        )
    labels = np.zeros(tuple(reversed(size)), dtype=np.uint8)
    for index, frame in enumerate(volume.array):
        corner = volume.affine @ np.array([index, 0, 0, 1.0])  # the slice's first pixel, in LPS
        x, y, z = reference.TransformPhysicalPointToContinuousIndex(corner[:3].tolist())
        k = int(round(z))
        if abs(x) > 0.5 or abs(y) > 0.5 or abs(z - k) > 0.25 or not 0 <= k < size[2]:
            if not frame.any():  # an empty slice between frames, where the SEG stores none
                continue
            raise MaskError(
                "mask_geometry_mismatch",
                f"SEG slice {index + 1} does not lie on a slice of the image",
            )
        labels[k] = np.maximum(labels[k], frame)
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(reference)
    return mask


def mask_on_grid(path: Path, reference: sitk.Image) -> sitk.Image:
    """The mask at ``path`` on ``reference``'s grid, as uint8 labels; MaskError says why not."""
    if not path.is_file():
        raise MaskError("mask_missing", "labels.csv names a mask file that does not exist")
    if path.name.lower().endswith(PICTURE_SUFFIXES):
        return _picture_mask(path, reference)
    if is_volume_file(path):
        try:
            return resample_mask_to(sitk.ReadImage(str(path)), reference)
        except RuntimeError:
            raise MaskError("unreadable_mask", "mask file could not be read as an image") from None
    return _dicom_seg_mask(path, reference)
