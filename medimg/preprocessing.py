"""The preprocessing recipe: from a volume on disk to the tensor a model sees.

Training (the preprocess step) and deployment (medimg predict) both call :func:`preprocess_ct`,
so the exported model is fed exactly what it was trained on. Torch-free on purpose.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import SimpleITK as sitk

from medimg.params import PreprocessParams
from medimg.transforms.geometry import body_bounding_box, crop, resample_to_shape, to_canonical
from medimg.transforms.intensity import window_ct
from medimg.transforms.masks import bounding_box, lung_mask

# Bump when the recipe's code changes in a way that changes its output, to invalidate the cache.
PREPROCESS_VERSION = "1"


def preprocess_ct(image: sitk.Image, spec: PreprocessParams) -> np.ndarray:
    """HU volume → (1, z, y, x) float32 in [0, 1]: reorient, crop, resample, window.

    ``crop: lungs`` crops to the lungs and blanks everything outside them, so that within the
    field of view only findings inside the lung are bright.
    """
    image = to_canonical(image)
    lower, upper = spec.window.bounds()
    hu = sitk.GetArrayViewFromImage(image)
    if spec.crop == "body":
        image = crop(image, body_bounding_box(hu))
    elif spec.crop == "lungs":
        lungs = lung_mask(hu)
        box = bounding_box(lungs, margin=2)
        if box is None:
            raise ValueError("no lungs found (no air-like region inside the body); use crop: body or none")
        blanked = sitk.GetImageFromArray(np.where(lungs, hu, lower).astype(np.float32))
        blanked.CopyInformation(image)
        image = crop(blanked, box)
    resampled = resample_to_shape(image, spec.target_shape)
    windowed = window_ct(sitk.GetArrayFromImage(resampled).astype(np.float32), lower, upper)
    return windowed[None].astype(np.float32)


def cache_key(volume_checksum: str, spec: PreprocessParams) -> str:
    """Content key of one cached tensor: what went in, the recipe's settings and its code version."""
    recipe = json.dumps(spec.model_dump(exclude={"workers"}), sort_keys=True)
    return hashlib.sha256(f"{volume_checksum}|{recipe}|{PREPROCESS_VERSION}".encode()).hexdigest()[:32]
