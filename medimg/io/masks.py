"""Label masks onto their image's grid: NIfTI (any grid in the same world), PNG, or DICOM SEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from medimg.io.pictures import PictureError, read_picture_file
from medimg.io.problems import ItemProblem

MASK_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


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


def _frame_position(ds, index: int) -> np.ndarray:
    frame = ds.PerFrameFunctionalGroupsSequence[index]
    return np.array([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient])


def _segment_number(ds, index: int) -> int:
    frame = ds.PerFrameFunctionalGroupsSequence[index]
    return int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)


def _dicom_seg_mask(path: Path, reference: sitk.Image) -> sitk.Image:
    """A DICOM SEG whose frames lie on the reference's slices; voxel value = segment number."""
    try:
        ds = pydicom.dcmread(path)
        frames = ds.pixel_array
    except Exception as exc:
        raise MaskError(
            "unreadable_mask", f"DICOM SEG could not be read ({type(exc).__name__})"
        ) from None
    frames = frames[np.newaxis] if frames.ndim == 2 else frames
    size = reference.GetSize()
    if frames.shape[1:] != (size[1], size[0]):
        raise MaskError(
            "mask_size_mismatch",
            f"SEG frames are {frames.shape[2]}x{frames.shape[1]}, image {size[0]}x{size[1]}",
        )
    labels = np.zeros(tuple(reversed(size)), dtype=np.uint8)
    for index, frame in enumerate(frames):
        continuous = reference.TransformPhysicalPointToContinuousIndex(
            _frame_position(ds, index).tolist()
        )
        x, y, z = continuous
        k = int(round(z))
        if abs(x) > 0.5 or abs(y) > 0.5 or abs(z - k) > 0.25 or not 0 <= k < size[2]:
            raise MaskError(
                "mask_geometry_mismatch",
                f"SEG frame {index + 1} does not lie on a slice of the image",
            )
        labels[k][frame > 0] = _segment_number(ds, index)
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(reference)
    return mask


def mask_on_grid(path: Path, reference: sitk.Image) -> sitk.Image:
    """The mask at ``path`` on ``reference``'s grid, as uint8 labels; MaskError says why not."""
    if not path.is_file():
        raise MaskError("mask_missing", "labels.csv names a mask file that does not exist")
    name = path.name.lower()
    if name.endswith(MASK_PICTURE_SUFFIXES):
        return _picture_mask(path, reference)
    if name.endswith((".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")):
        try:
            return resample_mask_to(sitk.ReadImage(str(path)), reference)
        except RuntimeError:
            raise MaskError("unreadable_mask", "mask file could not be read as an image") from None
    return _dicom_seg_mask(path, reference)
