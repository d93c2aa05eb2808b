"""Dermoscopy-like RGB photos of a skin lesion with its mask, as ISIC ships them (a JPEG and a PNG).

What makes real ones hard is here too: skin tone and lighting vary from photo to photo, the lens
darkens the corners (vignetting), hairs cross the lesion, and the lesion's border is irregular and
soft, with darker and lighter patches inside it.
"""

from __future__ import annotations

import cv2
import numpy as np


def _skin(rng: np.random.Generator, size: int) -> np.ndarray:
    """Skin in BGR float: a tone from pale to dark, uneven in a blotchy way, lit unevenly."""
    tone = rng.uniform(0.0, 1.0)
    pale, dark = np.array([170.0, 190.0, 235.0]), np.array([70.0, 100.0, 150.0])
    base = pale + tone * (dark - pale)
    blotches = cv2.GaussianBlur(
        rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 12
    )
    blotches /= max(float(np.abs(blotches).max()), 1e-6)
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1.0 + 0.12 * ((xx - rng.uniform(0, 1)) + (yy - rng.uniform(0, 1)))
    return base * (light + 0.06 * blotches)[..., None]


def _lesion_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """An irregular blob: a polar outline whose radius wobbles with a few random harmonics."""
    centre = rng.uniform(0.35, 0.65, 2) * size
    radius = rng.uniform(0.12, 0.28) * size
    angles = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    wobble = sum(
        rng.uniform(0.03, 0.12) * np.sin(k * angles + rng.uniform(0, 2 * np.pi))
        for k in range(2, 6)
    )
    stretch = rng.uniform(0.7, 1.0)
    turn = rng.uniform(0, np.pi)
    x = radius * (1 + wobble) * np.cos(angles)
    y = radius * (1 + wobble) * np.sin(angles) * stretch
    points = np.stack([x * np.cos(turn) - y * np.sin(turn), x * np.sin(turn) + y * np.cos(turn)], 1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points + centre).astype(np.int32)], 1)
    return mask


def _hairs(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    """Dark, thin, gently curving hairs drawn across the photo (and the lesion) in place."""
    size = image.shape[0]
    for _ in range(count):
        point = rng.uniform(0, size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        shade = rng.uniform(15, 60)
        width = max(1, int(round(size / 256 * rng.uniform(1, 2))))
        for _ in range(int(rng.integers(6, 14))):
            angle += rng.normal(0, 0.15)
            nxt = point + size * 0.04 * np.array([np.cos(angle), np.sin(angle)])
            cv2.line(
                image,
                tuple(map(int, point)),
                tuple(map(int, nxt)),
                (shade, shade, shade * 1.1),
                width,
                cv2.LINE_AA,
            )
            point = nxt


def make_skin_lesion(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 photo, uint8 mask with 1 on the lesion) of ``size`` x ``size`` pixels."""
    skin = _skin(rng, size)
    mask = _lesion_mask(rng, size)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), size / 90)[..., None]
    pigment = np.array([40.0, 55.0, 95.0]) * rng.uniform(0.6, 1.3)  # brown, BGR
    texture = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 40)
    texture = (1 + 0.35 * texture / max(float(np.abs(texture).max()), 1e-6))[..., None]
    opacity = rng.uniform(0.5, 1.0)  # faint lesions on dark skin are the hard ones
    image = skin * (1 - opacity * soft) + pigment * texture * opacity * soft
    _hairs(rng, image, int(rng.integers(0, 9)))
    yy, xx = (np.mgrid[0:size, 0:size] - size / 2) / (size / 2)
    vignette = 1 - rng.uniform(0.2, 0.5) * np.clip(np.hypot(yy, xx) - 0.6, 0, None) ** 1.5
    image = image * vignette[..., None] + rng.normal(0, 3, image.shape)
    bgr = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mask
