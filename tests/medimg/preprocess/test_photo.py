import numpy as np
import pytest

from medimg.preprocess.transforms import photo


def _fundus(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[inside] = (150, 60, 30)
    rgb[inside & (xx > size / 2)] = (180, 90, 40)
    return rgb


def test_field_mask_finds_the_circular_field():
    mask = photo.field_mask(_fundus())
    area = mask.sum() / mask.size
    assert abs(area - np.pi * 0.4**2) < 0.02 and not mask[0, 0]


def test_clahe_raises_local_contrast_and_keeps_shape_and_type():
    rgb = _fundus()
    rgb[20:30, 20:30] += 5  # a faint lesion
    out = photo.clahe(rgb, clip_limit=4.0)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out[20:30, 20:30, 0].mean() - out[35:45, 20:30, 0].mean() > 5


def test_resize_keeps_masks_binary():
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 10:30] = 1
    assert set(np.unique(photo.resize(mask, (32, 32), nearest=True))) == {0, 1}
    assert photo.resize(_fundus(), (32, 48)).shape == (32, 48, 3)


@pytest.mark.parametrize("value, reason", [(0, "all-black"), (255, "all-white"), (128, "flat")])
def test_blank_frames_are_rejected_with_a_reason(value, reason):
    assert reason in photo.blank_reason(np.full((16, 16, 3), value, np.uint8))
    assert photo.blank_reason(_fundus()) is None
