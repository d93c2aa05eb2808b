"""Masks land on their image's grid whether they come as NIfTI, PNG or DICOM SEG."""

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage, generate_uid

from medimg.io.masks import MaskError, mask_on_grid


def _reference():
    image = sitk.Image(6, 5, 4, sitk.sitkInt16)
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetOrigin((-5.0, -4.0, 10.0))
    return image


def test_nifti_mask_on_a_finer_grid_is_resampled_nearest(tmp_path):
    reference = _reference()
    fine = sitk.Resample(
        reference,
        [12, 10, 8],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        reference.GetOrigin(),
        (1.0, 1.0, 1.5),
        reference.GetDirection(),
        0,
        sitk.sitkUInt8,
    )
    values = np.zeros((8, 10, 12), np.uint8)
    values[2:4, 4:6, 6:8] = 1
    mask = sitk.GetImageFromArray(values)
    mask.CopyInformation(fine)
    sitk.WriteImage(mask, str(tmp_path / "m.nii.gz"))
    out = sitk.GetArrayFromImage(mask_on_grid(tmp_path / "m.nii.gz", reference))
    assert out.shape == (4, 5, 6) and out[1, 2, 3] == 1 and out.sum() == 1


def test_png_mask_must_match_the_picture(tmp_path):
    picture = sitk.Image(6, 5, sitk.sitkUInt8)
    values = np.zeros((5, 6), np.uint8)
    values[1:3, 2:4] = 255
    sitk.WriteImage(sitk.GetImageFromArray(values), str(tmp_path / "m.png"))
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(mask_on_grid(tmp_path / "m.png", picture)), values > 0
    )
    with pytest.raises(MaskError) as failure:
        mask_on_grid(tmp_path / "m.png", sitk.Image(7, 5, sitk.sitkUInt8))
    assert failure.value.code == "mask_size_mismatch"


def _seg(frames: dict[int, np.ndarray], reference) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = SegmentationStorage, generate_uid(), "SEG"
    ds.Rows, ds.Columns, ds.NumberOfFrames = 5, 6, len(frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    items = []
    for z in frames:
        item, position, segment = Dataset(), Dataset(), Dataset()
        position.ImagePositionPatient = list(reference.TransformIndexToPhysicalPoint((0, 0, z)))
        segment.ReferencedSegmentNumber = 1
        item.PlanePositionSequence, item.SegmentIdentificationSequence = (
            Sequence([position]),
            Sequence([segment]),
        )
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    ds.PixelData = pack_bits(np.stack(list(frames.values())))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_dicom_seg_frames_land_on_their_slices(tmp_path):
    reference = _reference()
    frame = np.zeros((5, 6), np.uint8)
    frame[2, 1:4] = 1
    _seg({1: frame, 3: frame}, reference).save_as(tmp_path / "seg.dcm", enforce_file_format=True)
    out = sitk.GetArrayFromImage(mask_on_grid(tmp_path / "seg.dcm", reference))
    assert out[1].sum() == 3 and out[3].sum() == 3 and out[[0, 2]].sum() == 0


def test_missing_mask_is_a_reason_not_a_crash(tmp_path):
    with pytest.raises(MaskError) as failure:
        mask_on_grid(tmp_path / "nope.nii.gz", _reference())
    assert failure.value.code == "mask_missing"
