"""Intensity transforms that work unchanged on numpy arrays and torch tensors."""

from __future__ import annotations

from typing import TypeVar

Array = TypeVar("Array")


def window_ct(hu: Array, lower: float, upper: float) -> Array:
    """Map HU in [lower, upper] linearly onto [0, 1], clipping outside (a display window)."""
    if not upper > lower:
        raise ValueError(f"window upper ({upper}) must exceed lower ({lower})")
    return ((hu - lower) / (upper - lower)).clip(0.0, 1.0)  # type: ignore[operator,union-attr]
