"""2D photograph transforms (fundus, dermoscopy): field-of-view mask, CLAHE, resize, blank rejection.

Inputs are (H, W, 3) uint8 RGB as ingest writes them; outputs stay uint8 RGB until the recipe
scales them to [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

FIELD_THRESHOLD = 12  # fundus cameras record near-black outside the circular field
BLANK_STD = 2.0  # an image whose grey values vary less than this carries no picture


def field_mask(rgb: np.ndarray, threshold: int = FIELD_THRESHOLD) -> np.ndarray:
    """Boolean (H, W) mask of the camera's circular field: the largest bright region, holes filled."""
    grey = rgb.max(axis=2) if rgb.ndim == 3 else rgb
    bright = (grey > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    if count <= 1:
        return np.zeros(grey.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(region)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def apply_field_mask(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Black out everything outside the field, so the camera's border cannot become a feature."""
    return np.where(mask[..., None] if rgb.ndim == 3 else mask, rgb, 0).astype(rgb.dtype)


def clahe(rgb: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of lightness (LAB L channel); colours kept."""
    equaliser = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    if rgb.ndim == 2:
        return equaliser.apply(rgb)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = equaliser.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def resize(picture: np.ndarray, size_hw: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize to (height, width): area averaging when shrinking, linear when growing, nearest for masks."""
    height, width = size_hw
    shrinking = height * width < picture.shape[0] * picture.shape[1]
    method = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return cv2.resize(picture, (width, height), interpolation=method)


def blank_reason(picture: np.ndarray) -> str | None:
    """Why a picture is unusable (all black, all white, or flat), or None if it shows something."""
    grey = picture.mean(axis=2) if picture.ndim == 3 else picture.astype(float)
    if float(grey.std()) >= BLANK_STD:
        return None
    level = float(grey.mean())
    if level < 10:
        return "all-black frame"
    if level > 245:
        return "all-white frame"
    return f"flat frame (every pixel about {level:.0f})"
