"""A chest-CT-like phantom in HU: body, two lungs, spine, ribs and optional nodules, with a mask.

Arrays are indexed (z, y, x); coordinates are millimetres in the patient frame (LPS) with the
volume centred in-plane, which is how the DICOM writer places the slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AIR_HU, LUNG_HU, TISSUE_HU, BONE_HU, NODULE_HU = -1000.0, -850.0, 40.0, 700.0, 60.0


@dataclass(frozen=True)
class PhantomGeometry:
    slices: int
    matrix: int
    pixel_spacing_mm: float
    slice_spacing_mm: float

    def grid_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates (z, y, x) in mm relative to the volume centre."""
        z = (np.arange(self.slices) - (self.slices - 1) / 2) * self.slice_spacing_mm
        yx = (np.arange(self.matrix) - (self.matrix - 1) / 2) * self.pixel_spacing_mm
        return np.meshgrid(z, yx, yx, indexing="ij")


def _lungs(z: np.ndarray, y: np.ndarray, x: np.ndarray, fov: float, z_extent: float) -> np.ndarray:
    lungs = np.zeros(z.shape, dtype=bool)
    for side in (-1.0, 1.0):
        lungs |= (
            ((x - side * 0.2 * fov) / (0.14 * fov)) ** 2
            + ((y + 0.03 * fov) / (0.22 * fov)) ** 2
            + (z / (0.58 * z_extent)) ** 2
        ) <= 1.0
    return lungs


def _nodule_fraction(
    rng: np.random.Generator,
    grid: tuple[np.ndarray, ...],
    lungs: np.ndarray,
    diameter_mm: float,
    voxel_mm: float,
) -> np.ndarray:
    """Partial-volume occupancy (0..1) of a spherical or lobulated nodule lying inside a lung."""
    z, y, x = grid
    radius = diameter_mm / 2.0
    inside = np.argwhere(lungs)
    for _ in range(200):
        idx = tuple(inside[rng.integers(len(inside))])
        centre = np.array([z[idx], y[idx], x[idx]])
        dist = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
        # the whole nodule plus a margin must sit in lung, as a real solitary nodule would
        if lungs[dist <= radius + voxel_mm].all():
            break
    lobes = [(centre, radius)]
    if rng.random() < 0.5:  # lobulated: a few smaller spheres budding off the main one
        for _ in range(rng.integers(2, 4)):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            lobes.append((centre + direction * radius * 0.6, radius * rng.uniform(0.4, 0.6)))
    fraction = np.zeros(z.shape, dtype=np.float32)
    for c, r in lobes:
        d = np.sqrt((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2)
        fraction = np.maximum(fraction, np.clip((r - d) / voxel_mm + 0.5, 0.0, 1.0))
    return fraction * lungs


def make_chest_ct(
    rng: np.random.Generator, geometry: PhantomGeometry, nodule_diameter_mm: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (HU volume as float32, nodule mask as uint8), both shaped (slices, matrix, matrix)."""
    z, y, x = geometry.grid_mm()
    fov = geometry.matrix * geometry.pixel_spacing_mm
    z_extent = geometry.slices * geometry.slice_spacing_mm
    # body size varies between patients, as it does in any cohort
    ax, by = fov * rng.uniform(0.40, 0.45), fov * rng.uniform(0.30, 0.34)
    ellipse = (x / ax) ** 2 + (y / by) ** 2
    body = ellipse <= 1.0
    hu = np.full(z.shape, AIR_HU, dtype=np.float32)
    hu[body] = TISSUE_HU
    ribs = (
        (ellipse > 0.82)
        & (ellipse < 0.9)
        & (np.sin(2 * np.pi * z / 24.0 + rng.uniform(0, 6)) > 0.4)
    )
    hu[ribs] = BONE_HU * 0.7
    spine = (x**2 + (y - 0.22 * fov) ** 2) <= (0.045 * fov) ** 2
    hu[spine] = BONE_HU
    lungs = _lungs(z, y, x, fov, z_extent) & (
        ellipse <= 0.75
    )  # a chest wall always surrounds the lungs
    hu[lungs] = LUNG_HU + rng.normal(0.0, 15.0, size=int(lungs.sum()))
    mask = np.zeros(z.shape, dtype=np.uint8)
    if nodule_diameter_mm is not None:
        voxel_mm = float(np.cbrt(geometry.pixel_spacing_mm**2 * geometry.slice_spacing_mm))
        fraction = _nodule_fraction(rng, (z, y, x), lungs, nodule_diameter_mm, voxel_mm)
        hu = hu * (1.0 - fraction) + NODULE_HU * fraction
        mask = (fraction >= 0.5).astype(np.uint8)
    hu += rng.normal(0.0, 10.0, size=hu.shape).astype(np.float32)
    return hu.astype(np.float32), mask
