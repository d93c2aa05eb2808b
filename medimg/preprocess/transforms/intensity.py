"""Intensity transforms written once for numpy arrays and torch tensors alike.

Only operations both libraries spell the same way are used (arithmetic, ``clip``), plus
:func:`_quantile`, the one place the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

Array = TypeVar("Array")


def window_ct(hu: Array, lower: float, upper: float) -> Array:
    """Map HU in [lower, upper] linearly onto [0, 1], clipping outside (a display window)."""
    if not upper > lower:
        raise ValueError(f"window upper ({upper}) must exceed lower ({lower})")
    return ((hu - lower) / (upper - lower)).clip(0.0, 1.0)  # type: ignore[operator,union-attr]


def window_channels(hu: Array, bounds: Sequence[tuple[float, float]]) -> Array:
    """One windowed channel per (lower, upper) pair, stacked first: (C, ...) from (...)."""
    channels = [window_ct(hu, lower, upper) for lower, upper in bounds]
    if isinstance(hu, np.ndarray):
        return np.stack(channels)  # type: ignore[return-value]
    import torch

    return torch.stack(channels)  # type: ignore[return-value]


def _quantile(x, q: float) -> float:
    if isinstance(x, np.ndarray):
        return float(np.quantile(x, q))
    return (
        float(x.float().quantile(q))
        if x.numel() <= 16_000_000
        else float(np.quantile(x.cpu().numpy(), q))
    )


def percentile_zscore(x: Array, lower_pct: float = 0.5, upper_pct: float = 99.5) -> Array:
    """Clip to the [lower_pct, upper_pct] percentiles, then subtract the mean and divide by the std.

    nnU-Net normalises CT like this (with foreground statistics); MR has no absolute scale, so a
    per-image z-score after clipping outliers is the usual choice there.
    """
    if not 0 <= lower_pct < upper_pct <= 100:
        raise ValueError(
            f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower_pct}, {upper_pct}"
        )
    low, high = _quantile(x, lower_pct / 100), _quantile(x, upper_pct / 100)
    clipped = x.clip(low, high)  # type: ignore[union-attr]
    # population std in both libraries (torch's default is the sample std)
    std = float(clipped.std() if isinstance(clipped, np.ndarray) else clipped.std(correction=0))
    return (clipped - float(clipped.mean())) / (std if std > 0 else 1.0)  # type: ignore[operator]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(rgb: Array) -> Array:
    """(3, H, W) in [0, 1] → ImageNet-standardised, for models that start from ImageNet weights."""
    if isinstance(rgb, np.ndarray):
        mean, std = np.array(IMAGENET_MEAN)[:, None, None], np.array(IMAGENET_STD)[:, None, None]
        return ((rgb - mean) / std).astype(rgb.dtype)  # type: ignore[return-value]
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype, device=rgb.device)[:, None, None]  # type: ignore[union-attr]
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype, device=rgb.device)[:, None, None]  # type: ignore[union-attr]
    return (rgb - mean) / std  # type: ignore[operator]
