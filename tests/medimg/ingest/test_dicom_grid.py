import numpy as np
import pytest

from medimg.ingest.dicom.grid import (
    StackGeometry,
    correct_drift,
    regular_volume,
    resample_along_normal,
    tilt_degrees,
    to_image,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _geometry(z_mm, y_drift_mm=None):
    y = y_drift_mm if y_drift_mm is not None else [0.0] * len(z_mm)
    return StackGeometry(np.array([[0.0, dy, z] for dy, z in zip(y, z_mm)]), AXIAL, (2.0, 2.0))


def test_resampling_a_linear_ramp_along_the_normal_is_exact():
    offsets = np.array([0.0, 2.0, 5.0, 6.0, 10.0])
    planes = np.broadcast_to(offsets[:, None, None] * 3.0, (5, 4, 4)).copy()  # value = 3 * z
    out = resample_along_normal(planes, offsets, 2.5)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(5) * 2.5 * 3.0)


def test_drift_correction_undoes_whole_pixel_shifts():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(12, 12)).astype(np.float32)
    drifts_px = [0, 1, 2]
    planes = np.stack(
        [np.roll(base, -d, axis=0) for d in drifts_px]
    )  # slice k images the body d px lower
    geometry = _geometry([0.0, 4.0, 8.0], [2.0 * d for d in drifts_px])
    fixed = correct_drift(planes, geometry, fill=-1.0)
    for k, d in enumerate(drifts_px):
        np.testing.assert_allclose(fixed[k, d:], base[d:], atol=1e-5)
    assert tilt_degrees(geometry) == pytest.approx(np.degrees(np.arctan2(4.0, 8.0)))


def test_clean_stack_keeps_its_type_and_spacing_from_the_end_slices():
    planes = np.arange(3 * 2 * 2, dtype=np.int16).reshape(3, 2, 2)
    volume, spacing = regular_volume(planes, _geometry([0.0, 3.0, 6.0]), None, fix_drift=False)
    assert volume is planes and spacing == 3.0
    image = to_image(volume, _geometry([10.0, 13.0, 16.0]), spacing)
    assert image.GetSpacing() == (2.0, 2.0, 3.0) and image.GetOrigin() == (0.0, 0.0, 10.0)


def test_resampled_integer_volume_stays_integer():
    planes = np.array([[[0]], [[10]], [[40]]], dtype=np.int16)
    volume, spacing = regular_volume(planes, _geometry([0.0, 1.0, 4.0]), 2.0, fix_drift=False)
    assert volume.dtype == np.int16 and spacing == 2.0
    np.testing.assert_array_equal(volume[:, 0, 0], [0, 20, 40])
