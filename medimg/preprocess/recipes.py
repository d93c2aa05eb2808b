"""The preprocessing recipes: from an image on disk (and its mask) to the tensors a model sees.

Training (the preprocess step) and deployment (medimg predict) both call these functions, so the
exported model is fed exactly what it was trained on. Every geometric step is applied to the mask
with nearest-neighbour interpolation in the same call, so masks stay aligned. Torch-free on purpose.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk

from medimg.config.schema import PreprocessParams
from medimg.io.code_digest import running_code_digest
from medimg.io.problems import ItemProblem
from medimg.preprocess.transforms import photo
from medimg.preprocess.transforms.geometry import (
    body_bounding_box,
    crop,
    crop_or_pad,
    resample_to_shape,
    resample_to_spacing,
    to_canonical,
    window_start,
)
from medimg.preprocess.transforms.intensity import (
    imagenet_normalize,
    percentile_zscore,
    window_channels,
    window_ct,
)
from medimg.preprocess.transforms.masks import bounding_box, lung_mask

# the modules whose code makes a tensor: their digest (and that of all they import) is in every key
RECIPE_MODULES = ("medimg.preprocess.recipes", "medimg.io.volumes")
INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}


class Rejected(ItemProblem):
    """An item the recipe cannot turn into a tensor (no lungs found, a blank frame...)."""


def _array_image(values: np.ndarray, like: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(values)
    image.CopyInformation(like)
    return image


def _crop_box(
    hu: np.ndarray, spec: PreprocessParams
) -> tuple[tuple[slice, ...], np.ndarray | None]:
    """The region to keep, and (for ``crop: lungs``) the lung mask used to blank the rest."""
    if spec.crop == "body":
        return body_bounding_box(hu), None
    if spec.crop == "lungs":
        lungs = lung_mask(hu)
        box = bounding_box(lungs, margin=2)
        if box is None:
            raise Rejected(
                "no_lungs",
                "no lungs found (no air-like region inside the body); use crop: body or none",
            )
        return box, lungs
    return tuple(slice(0, n) for n in hu.shape), None


def _intensity(values: np.ndarray, spec: PreprocessParams) -> np.ndarray:
    if spec.normalize == "percentile_zscore":
        return percentile_zscore(values, *spec.percentiles)[None]
    bounds = [spec.window.bounds()] + [w.bounds() for w in spec.extra_windows]
    return window_channels(values, bounds)


class Prepared(NamedTuple):
    """A recipe's output: the tensor, its mask (or None), the voxel spacing in mm of both, (z, y, x)
    or (y, x), which segmentation metrics in millimetres need, and for volumes the output grid (an
    empty image with the tensor's geometry), onto which a predicted mask is placed to map it back."""

    tensor: np.ndarray
    mask: np.ndarray | None
    spacing: tuple[float, ...]
    grid: sitk.Image | None = None


def _grid_of(
    reference: sitk.Image, shape: list[int], start_zyx: list[int] | None = None
) -> sitk.Image:
    """An empty image of ``shape`` (z, y, x) on ``reference``'s spacing and direction, starting at
    array index ``start_zyx`` of ``reference`` (or with ``reference``'s own origin)."""
    grid = sitk.Image([int(n) for n in reversed(shape)], sitk.sitkUInt8)
    grid.SetSpacing(reference.GetSpacing())
    grid.SetDirection(reference.GetDirection())
    origin = (
        reference.GetOrigin()
        if start_zyx is None
        else reference.TransformContinuousIndexToPhysicalPoint(
            [float(i) for i in reversed(start_zyx)]
        )
    )
    grid.SetOrigin(origin)
    return grid


def _spacing(image: sitk.Image) -> tuple[float, ...]:
    return tuple(float(s) for s in reversed(image.GetSpacing()))


def preprocess_volume(
    image: sitk.Image, spec: PreprocessParams, mask: sitk.Image | None = None
) -> Prepared:
    """Volume (HU for CT) → ((C, z, y, x) float32, (z, y, x) uint8 mask or None, spacing).

    Steps: reorient to LPS; resample to ``spacing`` if given; crop to the body or lungs (``lungs``
    also blanks what lies outside them, so only findings inside the lung are bright); then resize to
    ``target_shape`` or crop/pad it around the crop box; finally window(s) or percentile z-score.
    A multi-channel volume (CT + PET, MR sequences) takes its crop from the first channel and gives
    every channel the same geometry; each is normalised on its own.
    """
    count = image.GetNumberOfComponentsPerPixel()
    channels = (
        [image] if count == 1 else [sitk.VectorIndexSelectionCast(image, c) for c in range(count)]
    )
    first = _shaped(channels[0], spec, mask)
    tensors = [_intensity(first.values, spec)] + [
        _intensity(_shaped(channel, spec, None, first.region).values, spec)
        for channel in channels[1:]
    ]
    return Prepared(
        np.concatenate(tensors).astype(np.float32),
        first.mask.astype(np.uint8) if first.mask is not None else None,
        first.spacing,
        first.grid,
    )


class _Shaped(NamedTuple):
    values: np.ndarray  # (z, y, x) at the target shape, before intensity normalisation
    mask: np.ndarray | None
    spacing: tuple[float, ...]
    grid: sitk.Image
    region: tuple  # (crop box, lung mask or None): what the other channels reuse


def _shaped(
    image: sitk.Image, spec: PreprocessParams, mask: sitk.Image | None, region: tuple | None = None
) -> _Shaped:
    """One scalar channel through orientation, spacing, crop and shape; ``region`` reuses the first
    channel's crop (computed here when None)."""
    image = to_canonical(image)
    mask = to_canonical(mask) if mask is not None else None
    if spec.spacing is not None:
        floor = float(sitk.GetArrayViewFromImage(image).min())
        image = resample_to_spacing(
            image, spec.spacing, INTERPOLATORS[spec.interpolation], default=floor
        )
        if mask is not None:
            mask = resample_to_spacing(mask, spec.spacing, sitk.sitkNearestNeighbor)
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    box, lungs = region if region is not None else _crop_box(values, spec)
    if lungs is not None:
        values = np.where(
            lungs, values, spec.window.bounds()[0] if spec.normalize == "window" else values.min()
        )
    if spec.shape_mode == "crop_pad":
        centre = [(s.start + s.stop - 1) / 2 for s in box]
        grid = _grid_of(
            image,
            spec.target_shape,
            [window_start(n, c) for n, c in zip(spec.target_shape, centre)],
        )
        values = crop_or_pad(values, spec.target_shape, centre, float(values.min()))
        mask_values = (
            crop_or_pad(sitk.GetArrayFromImage(mask), spec.target_shape, centre, 0)
            if mask is not None
            else None
        )
        spacing = _spacing(image)
    else:
        resized = resample_to_shape(crop(_array_image(values, image), box), spec.target_shape)
        values = sitk.GetArrayFromImage(resized)
        mask_values = None
        if mask is not None:
            shrunk = resample_to_shape(
                crop(sitk.Cast(mask, sitk.sitkUInt8), box),
                spec.target_shape,
                sitk.sitkNearestNeighbor,
                antialias=False,
            )
            mask_values = sitk.GetArrayFromImage(shrunk)
        spacing = _spacing(resized)
        grid = _grid_of(resized, spec.target_shape)
    return _Shaped(values, mask_values, spacing, grid, (box, lungs))


def preprocess_picture(
    image: sitk.Image, spec: PreprocessParams, mask: sitk.Image | None = None
) -> Prepared:
    """2D picture → ((C, H, W) float32, (H, W) uint8 mask or None, spacing).

    RGB photos: blank-frame check, circular field mask, CLAHE, resize, [0, 1] and optionally ImageNet
    mean/std. Grey pictures (radiographs, CT slices) are scaled by their percentiles to [0, 1].
    """
    cfg = spec.photo
    pixels = sitk.GetArrayFromImage(image)
    size = (cfg.size[0], cfg.size[1])
    if cfg.reject_blank and (reason := photo.blank_reason(pixels)):
        raise Rejected("blank_frame", reason)
    if pixels.ndim == 3:
        rgb = pixels.astype(np.uint8)
        if cfg.field_mask:
            rgb = photo.apply_field_mask(rgb, photo.field_mask(rgb))
        if cfg.clahe:
            rgb = photo.clahe(rgb, cfg.clahe_clip)
        tensor = photo.resize(rgb, size).astype(np.float32).transpose(2, 0, 1) / 255.0
        if cfg.imagenet_norm:
            tensor = imagenet_normalize(tensor)
    else:
        low, high = np.percentile(pixels, spec.percentiles)
        scaled = window_ct(pixels.astype(np.float32), float(low), float(max(high, low + 1e-3)))
        tensor = photo.resize(scaled, size)[None]
    mask_values = None
    if mask is not None:
        mask_values = photo.resize(
            sitk.GetArrayFromImage(mask).astype(np.uint8), size, nearest=True
        )
    spacing = tuple(s * n / m for s, n, m in zip(_spacing(image), pixels.shape[:2], size))
    return Prepared(tensor.astype(np.float32), mask_values, spacing)


def cache_key(volume_checksum: str, spec: PreprocessParams, mask_checksum: str = "") -> str:
    """Content key of one cached tensor: what went in, the recipe's settings and the digest of the
    code that computes it, so editing a transform recomputes every tensor it touched."""
    recipe = json.dumps(spec.model_dump(exclude={"workers"}), sort_keys=True)
    code = running_code_digest(RECIPE_MODULES)
    return hashlib.sha256(
        f"{volume_checksum}|{mask_checksum}|{recipe}|{code}".encode()
    ).hexdigest()[:32]
