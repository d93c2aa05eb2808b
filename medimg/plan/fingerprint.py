"""The dataset's fingerprint: what planning needs to know about the data, read from the manifest and
the converted volumes. Numbers only, no identifiers; axes in (z, y, x) array order, mm.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

# voxels sampled per case for the intensity statistics (nnU-Net samples 10 000 of each case's foreground)
SAMPLES_PER_CASE = 10_000


def spacing_zyx(row) -> np.ndarray:
    """A manifest row's voxel spacing in (z, y, x) order (the manifest keeps SimpleITK's x, y, z)."""
    return np.asarray(row["spacing"], dtype=float)[::-1]


def nonzero_box_size(values: np.ndarray, background: float) -> np.ndarray:
    """The size (voxels per axis) of the box around every voxel above ``background``: the size a case
    has after cropping, as nnU-Net crops to the non-zero region before planning."""
    inside = values > background
    if not inside.any():
        return np.asarray(values.shape)
    return np.asarray([axis.max() - axis.min() + 1 for axis in np.nonzero(inside)])


def sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most SAMPLES_PER_CASE of ``values``, drawn without replacement, as float64."""
    chosen = values.ravel()
    if chosen.size > SAMPLES_PER_CASE:
        chosen = rng.choice(chosen, SAMPLES_PER_CASE, replace=False)
    return chosen.astype(np.float64)


def _percentiles(values: np.ndarray, qs=(10, 50, 90)) -> dict[str, list[float]]:
    return {f"p{q}": np.percentile(values, q, axis=0).round(4).tolist() for q in qs}


def dataset_fingerprint(rows: pd.DataFrame, interim: Path, seed: int = 0) -> dict:
    """The fingerprint of the usable rows of a manifest: spacings, sizes after cropping, foreground
    intensities, class and label frequencies, modality and anisotropy."""
    rng = np.random.default_rng(seed)
    ndim = int(rows["ndim"].mode()[0])
    spacings, cropped, label_voxels = [], [], Counter()
    under_masks, everywhere = [], []  # intensities: the structures' when any case has a mask
    for row in rows.to_dict("records"):
        image = sitk.ReadImage(str(interim / row["volume_path"]))
        values = sitk.GetArrayFromImage(image).astype(np.float32)
        if (
            image.GetNumberOfComponentsPerPixel() > 1
        ):  # the first channel decides crop and statistics
            values = values[..., 0]
        mask = None
        if isinstance(row.get("mask_path"), str) and row["mask_path"]:
            mask = sitk.GetArrayFromImage(sitk.ReadImage(str(interim / row["mask_path"])))
            label_voxels.update(
                {int(k): int(n) for k, n in zip(*np.unique(mask, return_counts=True))}
            )
            if mask.any():
                under_masks.append(sample(values[mask > 0], rng))
        spacings.append(spacing_zyx(row))
        cropped.append(nonzero_box_size(values, float(values.min())))
        everywhere.append(sample(values, rng))
    spacing = np.stack(spacings)
    sizes = np.stack(cropped)
    intensities = np.concatenate(under_masks or everywhere)
    median_spacing = np.median(spacing, axis=0)
    total = sum(label_voxels.values())
    return {
        "cases": len(rows),
        "ndim": ndim,
        "modality": str(rows["modality"].mode()[0]),
        "channels": int(rows["channels"].max()),
        "spacing": {"median": median_spacing.round(4).tolist(), **_percentiles(spacing)},
        "size_after_crop": {
            "median": np.median(sizes, axis=0).round(1).tolist(),
            **_percentiles(sizes),
        },
        "anisotropy": round(float(median_spacing.max() / median_spacing.min()), 3),
        "intensity_foreground": {
            "from": "voxels under the masks" if under_masks else "all voxels (no masks)",
            "mean": round(float(intensities.mean()), 4),
            "sd": round(float(intensities.std()), 4),
            **{f"p{q}": round(float(np.percentile(intensities, q)), 4) for q in (0.5, 50, 99.5)},
        },
        "labels": {
            str(k): int(v)
            for k, v in sorted(rows["label"].dropna().astype(int).value_counts().items())
        },
        "label_voxel_fraction": {
            str(k): round(n / total, 6) for k, n in sorted(label_voxels.items())
        }
        if total
        else {},
    }
