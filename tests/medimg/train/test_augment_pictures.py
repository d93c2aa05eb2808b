import numpy as np

from medimg.config.schema import AugmentParams
from medimg.train.augment.pictures import augment_picture, picture_augmentation

PARAMS = AugmentParams(
    flip_axes=[1, 2],
    rotate_degrees=15,
    scale=0.1,
    shift=0.05,
    elastic=0.05,
    noise_std=0.0,
    brightness=0.0,
    contrast=0.0,
    grid_distortion=True,
    color_jitter=0.2,
)


def _picture() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 15:35] = 1
    image = np.repeat(mask[None].astype(np.float32), 3, axis=0) * 0.8 + 0.1
    return image, mask


def test_mask_stays_aligned_with_the_picture():
    image, mask = _picture()
    pipeline = picture_augmentation(PARAMS.model_copy(update={"color_jitter": 0.0}), colour=True)
    for seed in range(5):
        out, out_mask = augment_picture(pipeline, image, mask, seed)
        assert out.shape == image.shape and out_mask.shape == mask.shape
        agreement = ((out[0] > 0.5) == (out_mask == 1)).mean()
        assert agreement > 0.97


def test_a_seed_fixes_the_augmentation():
    image, mask = _picture()
    pipeline = picture_augmentation(PARAMS, colour=True)
    first = augment_picture(pipeline, image, mask, 7)[0]
    assert np.array_equal(first, augment_picture(pipeline, image, mask, 7)[0])
    assert not np.array_equal(first, augment_picture(pipeline, image, mask, 8)[0])


def test_colour_jitter_only_for_photographs():
    names = lambda pipeline: [type(t).__name__ for t in pipeline.transforms]  # noqa: E731
    assert "ColorJitter" in names(picture_augmentation(PARAMS, colour=True))
    assert "ColorJitter" not in names(picture_augmentation(PARAMS, colour=False))
