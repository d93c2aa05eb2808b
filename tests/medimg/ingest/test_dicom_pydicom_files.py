"""pydicom's shipped test files (and pydicom-data's): decoders, rescale, MONOCHROME1, non-image objects.

Each decoded image is compared with what SimpleITK (GDCM) reads from the same file.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from medimg.config.schema import GeometryPolicy
from medimg.ingest.dicom.headers import SliceHeader, read_header
from medimg.ingest.dicom.pixels import PixelDecodeError, read_slices
from medimg.ingest.dicom.series import decide_geometry, group_series


def _file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path, f"{name} missing: install the dev extra (pydicom-data)"
    return Path(path)


def _decoded(name: str) -> np.ndarray:
    headers = read_header(_file(name))
    assert isinstance(headers, list)
    return read_slices(headers)


@pytest.mark.parametrize(
    "name, syntax",
    [
        ("MR_small_RLE.dcm", "RLE"),
        ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS"),
        ("MR_small_jp2klossless.dcm", "JPEG 2000"),
        ("MR_small_bigendian.dcm", "big endian"),
        ("MR_small_implicit.dcm", "implicit VR"),
        ("emri_small_jpeg_ls_lossless.dcm", "JPEG-LS multi-frame"),
        ("emri_small_RLE.dcm", "RLE multi-frame"),
        ("emri_small_jpeg_2k_lossless.dcm", "J2K multi-frame"),
    ],
)
def test_lossless_transfer_syntaxes_decode_to_the_uncompressed_values(name, syntax):
    plain = _decoded("emri_small.dcm" if name.startswith("emri") else "MR_small.dcm")
    np.testing.assert_array_equal(_decoded(name), plain, err_msg=syntax)


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "RG1_UNCR.dcm",
        "JPEG-LL.dcm",
        "SC_rgb.dcm",
        "SC_rgb_rle.dcm",
        "US1_J2KR.dcm",
        "693_J2KR.dcm",
    ],
)
def test_values_agree_with_simpleitk(name):
    ours = _decoded(name)[0]
    theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(_file(name))))
    theirs = theirs[0] if theirs.ndim > ours.ndim else theirs
    np.testing.assert_array_equal(ours, theirs)
    # same kind of number; the width may differ (GDCM sizes J2K output from the codestream precision)
    assert ours.dtype.kind == theirs.dtype.kind


def test_ct_is_in_hounsfield_units_and_monochrome1_is_inverted():
    ct = _decoded("CT_small.dcm")
    header = read_header(_file("CT_small.dcm"))[0]
    assert header.intercept != 0 and ct.min() < 0  # rescale applied
    cr = read_header(_file("RG1_UNCR.dcm"))[0]
    assert cr.photometric == "MONOCHROME1" and cr.is_picture
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(_file("RG1_UNCR.dcm"))))
    assert _decoded("RG1_UNCR.dcm")[0].mean() == pytest.approx(raw.mean())  # GDCM inverts too


def test_jpeg_baseline_decodes_close_to_the_original():
    lossy = _decoded("SC_rgb_jpeg_gdcm.dcm").astype(int)
    plain = _decoded("SC_rgb.dcm").astype(int)
    assert lossy.shape == plain.shape and np.abs(lossy - plain).mean() < 3


def test_a_file_no_decoder_can_read_gets_a_reason():
    with pytest.raises(PixelDecodeError) as failure:
        _decoded("JPEG-lossy.dcm")  # 12-bit JPEG extended with a damaged scan header
    assert failure.value.code == "no_decoder" and "JPEG" in failure.value.reason


@pytest.mark.parametrize(
    "name, kind",
    [
        ("test-SR.dcm", "SR"),
        ("rtstruct.dcm", "RTSTRUCT"),
        ("rtplan.dcm", "RTPLAN"),
        ("liver.dcm", "SEG"),
    ],
)
def test_non_image_objects_are_listed_with_their_type(name, kind):
    skipped = read_header(_file(name))
    assert not isinstance(skipped, list)
    assert skipped.reason_code == "non_image_object" and skipped.object_type == kind


def test_enhanced_mr_frames_become_one_series_and_missing_geometry_is_a_reason():
    headers = read_header(_file("emri_small.dcm"))
    assert len(headers) == 10 and all(isinstance(h, SliceHeader) for h in headers)
    plans = group_series(headers)
    assert len(plans) == 1
    decision = decide_geometry(plans[0], GeometryPolicy())
    assert (
        decision.problem.code == "missing_geometry"
    )  # the anonymiser stripped the functional groups


def test_damaged_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "text.dcm").write_text("not DICOM")
    (tmp_path / "DICOMDIR").write_bytes(_file("CT_small.dcm").read_bytes())
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    codes = {p.name: read_header(p).reason_code for p in tmp_path.iterdir()}
    assert codes == {
        "empty": "empty_file",
        "text.dcm": "not_dicom",
        "DICOMDIR": "dicomdir",
        "loop": "unreadable_file",
    }


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "RG1_UNCR.dcm",
        "OBXXXX1A.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_the_uncompressed_fast_path_reads_what_pydicom_decodes(name):
    headers = read_header(_file(name))
    assert headers[0].native_pixels is not None
    slow = [replace(h, native_pixels=None) for h in headers]
    np.testing.assert_array_equal(read_slices(headers), read_slices(slow))


def test_big_endian_and_compressed_files_take_pydicom_decoders():
    for name in ("MR_small_bigendian.dcm", "MR_small_RLE.dcm", "SC_rgb.dcm", "emri_small.dcm"):
        assert read_header(_file(name))[0].native_pixels is None, name
