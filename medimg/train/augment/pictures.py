"""2D augmentation with albumentations, built from the augment section of params.

Applied per sample in the Dataset (albumentations works on HWC numpy arrays); masks go through the
same call, so every geometric change is applied to both. Colour jitter is only ever added for
photographs, never for CT or radiographs.
"""

from __future__ import annotations

import os

# albumentations asks PyPI for a newer version on import (up to 2 s per process, offline
# included); nothing in this pipeline may reach the network at run time
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402

from medimg.config.schema import AugmentParams


def picture_augmentation(params: AugmentParams, colour: bool) -> A.Compose:
    """The pipeline for one kind of picture; ``colour`` (RGB photos) allows colour jitter."""
    steps: list = []
    # flip_axes count (z, y, x) as for volumes: 2 (x) flips left-right, 1 (y) up-down, 0 has no 2D meaning
    if 2 in params.flip_axes:
        steps.append(A.HorizontalFlip(p=0.5))
    if 1 in params.flip_axes:
        steps.append(A.VerticalFlip(p=0.5))
    if params.rotate_degrees or params.scale or params.shift:
        steps.append(
            A.Affine(
                rotate=(-params.rotate_degrees, params.rotate_degrees),
                scale=(1 - params.scale, 1 + params.scale),
                translate_percent=(-params.shift, params.shift),
                p=0.8,
            )
        )
    if params.elastic:
        steps.append(A.ElasticTransform(alpha=params.elastic * 100, sigma=10, p=0.3))
    if params.grid_distortion:
        steps.append(A.GridDistortion(p=0.3))
    if params.brightness or params.contrast:
        steps.append(
            A.RandomBrightnessContrast(
                brightness_limit=params.brightness, contrast_limit=params.contrast, p=0.8
            )
        )
    if params.noise_std:
        steps.append(A.GaussNoise(std_range=(0.0, params.noise_std), p=0.5))
    if colour and params.color_jitter:
        steps.append(
            A.ColorJitter(
                brightness=0,
                contrast=0,
                saturation=params.color_jitter,
                hue=params.color_jitter / 4,
                p=0.5,
            )
        )
    return A.Compose(steps)


def augment_picture(
    pipeline: A.Compose, image: np.ndarray, mask: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(C, H, W) float image and (H, W) mask → the same, augmented reproducibly from ``seed``."""
    pipeline.set_random_seed(seed)
    kwargs = {"image": np.ascontiguousarray(image.transpose(1, 2, 0))}
    if mask is not None:
        kwargs["mask"] = np.ascontiguousarray(mask)
    out = pipeline(**kwargs)
    augmented = out["image"]
    augmented = augmented[..., None] if augmented.ndim == 2 else augmented
    return augmented.transpose(2, 0, 1).astype(np.float32), out.get("mask")
