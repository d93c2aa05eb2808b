"""Fundus-like RGB photos whose diabetic-retinopathy grade (0-4) shows as red lesions and exudates."""

from __future__ import annotations

import cv2
import numpy as np

# Lesions per grade: none, mild, moderate, severe, proliferative (more and larger as it worsens).
LESIONS_PER_GRADE = (0, 4, 10, 20, 34)


def make_fundus(rng: np.random.Generator, size: int, grade: int) -> np.ndarray:
    """An RGB uint8 photo: circular field on black, optic disc, macula, vessels and lesions."""
    if not 0 <= grade < len(LESIONS_PER_GRADE):
        raise ValueError(f"grade must be 0..{len(LESIONS_PER_GRADE) - 1}, got {grade}")
    centre = np.array([size / 2, size / 2])
    radius = size * 0.46
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - centre[0], xx - centre[1]) / radius
    shade = np.clip(1.0 - 0.45 * r**2, 0, 1)[..., None]
    base = np.array([40, 85, 190], dtype=np.float32) * rng.uniform(0.85, 1.1)  # BGR orange-red
    img = (base * shade).astype(np.float32)
    side = rng.choice([-1, 1])
    disc = (int(centre[1] + side * radius * 0.45), int(centre[0] + rng.uniform(-0.05, 0.05) * size))
    macula = (int(centre[1] - side * radius * 0.1), int(centre[0]))
    cv2.circle(img, macula, int(size * 0.07), (25, 50, 120), -1, lineType=cv2.LINE_AA)
    for _ in range(8):  # vessels: random walks leaving the disc
        angle = rng.uniform(0, 2 * np.pi)
        point = np.array(disc, dtype=np.float32)
        width = int(rng.integers(1, 3)) + size // 224
        for _ in range(int(rng.integers(8, 14))):
            angle += rng.normal(0, 0.35)
            nxt = point + size * 0.05 * np.array([np.cos(angle), np.sin(angle)])
            cv2.line(
                img,
                tuple(point.astype(int)),
                tuple(nxt.astype(int)),
                (20, 30, 110),
                width,
                cv2.LINE_AA,
            )
            point = nxt
    cv2.circle(img, disc, int(size * 0.06), (150, 220, 245), -1, lineType=cv2.LINE_AA)
    n_lesions = LESIONS_PER_GRADE[grade] + int(rng.integers(0, 3)) * (grade > 0)
    for _ in range(n_lesions):
        rho, theta = radius * np.sqrt(rng.uniform(0, 0.8)), rng.uniform(0, 2 * np.pi)
        at = (int(centre[1] + rho * np.cos(theta)), int(centre[0] + rho * np.sin(theta)))
        # blot haemorrhages a few pixels wide at 224 px, so grades stay legible on downscaled inputs
        cv2.circle(
            img,
            at,
            (int(rng.integers(2, 4)) + grade // 2) * max(1, size // 224),
            (10, 10, 90),
            -1,
            cv2.LINE_AA,
        )
    if grade >= 3:  # hard exudates
        for _ in range(grade * 3):
            rho, theta = radius * np.sqrt(rng.uniform(0, 0.6)), rng.uniform(0, 2 * np.pi)
            at = (int(centre[1] + rho * np.cos(theta)), int(centre[0] + rho * np.sin(theta)))
            cv2.circle(
                img,
                at,
                (int(rng.integers(1, 3)) + 1) * max(1, size // 224),
                (90, 210, 230),
                -1,
                cv2.LINE_AA,
            )
    img += rng.normal(0, 4, size=img.shape)
    img[r > 1.0] = 0
    return cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB)
