"""Masks land on their image's grid whether they come as NIfTI, PNG or DICOM SEG."""

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

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


def _ct_series(folder) -> tuple[list, sitk.Image]:
    """A 4-slice CT series written by pydicom, its datasets and the image SimpleITK reads from it."""
    from medimg.demo.dicom_series import PatientIdentity, StudyInfo, write_ct_series

    files = [folder / f"ct{k}.dcm" for k in range(4)]
    patient = PatientIdentity("TEST^SEG", "SEG0001", "19600101", "F")
    study = StudyInfo(generate_uid(), "ACC1", "20260101", "HOSPITAL", "Vendor")
    write_ct_series(
        np.zeros((4, 5, 6), np.float32), 2.0, 3.0, patient, study, generate_uid(), files, "seg"
    )
    sources = [pydicom.dcmread(f) for f in files]
    for (
        source
    ) in sources:  # type-2 study attributes the demo writer leaves out; highdicom wants them
        for keyword in ("StudyTime", "StudyID", "ReferringPhysicianName"):
            setattr(source, keyword, source.get(keyword, ""))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sources, reader.Execute()


def _seg(sources: list, labels: np.ndarray) -> hd.seg.Segmentation:
    """A binary SEG built by highdicom, as a viewer or dcmqi writes one (empty frames left out)."""
    order = np.argsort([float(s.ImagePositionPatient[2]) for s in sources])
    return hd.seg.Segmentation(
        source_images=[sources[i] for i in order],
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            hd.seg.SegmentDescription(
                segment_number=1,
                segment_label="lesion",
                segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Abnormal"),
                segmented_property_type=hd.sr.CodedConcept("27925004", "SCT", "Nodule"),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        ],
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="tests",
        manufacturer_model_name="tests",
        software_versions="0",
        device_serial_number="0",
    )


def test_dicom_seg_frames_land_on_their_slices(tmp_path):
    sources, reference = _ct_series(tmp_path)
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1, 2, 1:4] = labels[3, 2, 1:4] = 1  # frames on slices 1 and 3, none stored for 0 and 2
    _seg(sources, labels).save_as(tmp_path / "seg.dcm")
    out = sitk.GetArrayFromImage(mask_on_grid(tmp_path / "seg.dcm", reference))
    assert out[1].sum() == 3 and out[3].sum() == 3 and out[[0, 2]].sum() == 0
    assert out[1, 2, 1:4].all()


def test_a_dicom_seg_of_another_grid_is_a_geometry_mismatch(tmp_path):
    sources, reference = _ct_series(tmp_path)
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1, 2, 1:4] = 1
    _seg(sources, labels).save_as(tmp_path / "seg.dcm")
    shifted = sitk.Image(reference)
    shifted.SetOrigin([o + 1.0 for o in reference.GetOrigin()])  # one mm off, in-plane and along z
    with pytest.raises(MaskError) as failure:
        mask_on_grid(tmp_path / "seg.dcm", shifted)
    assert failure.value.code == "mask_geometry_mismatch"


def test_a_nhdr_mask_is_read_as_a_volume_not_as_a_dicom_seg(tmp_path):
    reference = _reference()
    values = np.zeros((4, 5, 6), np.uint8)
    values[2, 1, 3] = 1
    mask = sitk.GetImageFromArray(values)
    mask.CopyInformation(reference)
    sitk.WriteImage(mask, str(tmp_path / "mask.nhdr"))  # detached header: mask.nhdr + mask.raw
    out = sitk.GetArrayFromImage(mask_on_grid(tmp_path / "mask.nhdr", reference))
    assert out[2, 1, 3] == 1 and out.sum() == 1


def test_missing_mask_is_a_reason_not_a_crash(tmp_path):
    with pytest.raises(MaskError) as failure:
        mask_on_grid(tmp_path / "nope.nii.gz", _reference())
    assert failure.value.code == "mask_missing"
