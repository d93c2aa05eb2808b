"""Whole-volume segmentation from a model that sees less: slice by slice (2D models) or by sliding a
3D patch over the volume (patch-trained 3D models).

Written once for numpy and torch alike (only slicing, reshape and swapaxes, which both share), so
validation, evaluation, ONNX variant checks and torch-free ``medimg predict`` run the same code.
``predict`` maps a batch of model inputs to logits of the same kind (tensor or array).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Predict = Callable[[Any], Any]


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start indices of windows of ``patch`` covering ``size`` with at least ``overlap`` between
    neighbours; the last window ends exactly at the border."""
    if patch >= size:
        return [0]
    step = max(1, int(patch * (1 - overlap)))
    starts = list(range(0, size - patch, step))
    return starts + [size - patch]


def _zeros(like: Any, shape: Sequence[int]) -> Any:
    if isinstance(like, np.ndarray):
        return np.zeros(shape, dtype=np.float32)
    return like.new_zeros(shape)


def gaussian_weights(patch: Sequence[int], sigma_scale: float = 1 / 8) -> np.ndarray:
    """nnU-Net's importance map: a Gaussian centred on the patch, sigma 1/8 of each side, so a
    window's border (where it sees least context) counts least where windows overlap."""
    axes = []
    for n in patch:
        taps = np.arange(n, dtype=np.float64) - (n - 1) / 2
        axes.append(np.exp(-(taps**2) / (2 * (n * sigma_scale) ** 2)))
    weights = np.ones(tuple(patch), dtype=np.float64)
    for axis, values in enumerate(axes):
        shape = [1] * len(patch)
        shape[axis] = len(values)
        weights = weights * values.reshape(shape)
    weights /= weights.max()
    return np.maximum(weights, weights[weights > 0].min()).astype(np.float32)


def sliding_window(predict: Predict, volume: Any, patch: Sequence[int], overlap: float) -> Any:
    """Logits (N, K, z, y, x) of ``volume`` (N, C, z, y, x), Gaussian-weighted where windows overlap."""
    spatial = tuple(volume.shape[2:])
    if all(p >= s for p, s in zip(patch, spatial)):
        return predict(volume)
    sizes = [min(p, s) for p, s in zip(patch, spatial)]
    weights = gaussian_weights(sizes)
    counts = np.zeros(spatial, dtype=np.float32)
    out, weight = None, None
    for start in itertools.product(*(window_starts(s, p, overlap) for s, p in zip(spatial, sizes))):
        box = tuple(slice(a, a + p) for a, p in zip(start, sizes))
        logits = predict(volume[(slice(None), slice(None), *box)])
        if out is None:
            out = _zeros(logits, (volume.shape[0], logits.shape[1], *spatial))
            weight = weights if isinstance(out, np.ndarray) else out.new_tensor(weights)
        out[(slice(None), slice(None), *box)] += logits * weight
        counts[box] += weights
    divisor = counts if isinstance(out, np.ndarray) else out.new_tensor(counts)
    return out / divisor


def slice_by_slice(predict: Predict, volume: Any, chunk: int = 32) -> Any:
    """Logits (N, K, z, y, x) of ``volume`` (N, C, z, y, x) from a 2D model, ``chunk`` slices a call."""
    n, c, z, y, x = volume.shape
    slices = volume.swapaxes(1, 2).reshape(n * z, c, y, x)
    out = None
    for first in range(0, n * z, chunk):
        logits = predict(slices[first : first + chunk])
        if out is None:
            out = _zeros(logits, (n * z, logits.shape[1], y, x))
        out[first : first + chunk] = logits
    return out.reshape(n, z, -1, y, x).swapaxes(1, 2)


def segment_volume(
    predict: Predict,
    volume: Any,
    model_ndim: int,
    patch: Sequence[int] | None,
    overlap: float = 0.5,
) -> Any:
    """Logits over the whole of ``volume`` (N, C, [z,] y, x), whatever part of it the model takes."""
    if volume.ndim == 5 and model_ndim == 2:
        return slice_by_slice(predict, volume)
    if volume.ndim == 5 and patch is not None:
        return sliding_window(predict, volume, patch, overlap)
    return predict(volume)
