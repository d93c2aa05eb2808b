"""Two generated segmentation sets shaped like the Decathlon's, in nnU-Net's raw layout
(``imagesTr``/``labelsTr``, ``imagesTs``/``labelsTs``, ``dataset.json``), for showing what the plan
and k-fold training do on data unlike the demo's:

- **anisotropic CT with small structures**: thick slices (2.5-3.5 mm) and fine in-plane spacing
  (0.6-0.8 mm) as in Decathlon's liver, lung or colon tasks; 1-3 small round lesions (3-6 mm
  radius, a few slices each) in soft tissue, in Hounsfield units;
- **MR-like volumes with two adjacent labels**: isotropic 1 mm crops about 36 x 48 x 36 with an
  elongated structure split into two touching labels of nearly equal intensity, as in Decathlon's
  hippocampus task (anterior, posterior); arbitrary units, a different scale and bias field per case.

Case names are plain numbers: no identifiers. Deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def _write(values: np.ndarray, spacing_zyx: tuple[float, ...], path: Path) -> None:
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(tuple(float(s) for s in reversed(spacing_zyx)))
    sitk.WriteImage(image, str(path), useCompression=True)


def _grid(shape: tuple[int, ...], spacing_zyx: tuple[float, ...]) -> list[np.ndarray]:
    """Voxel-centre coordinates in mm, centred on the volume."""
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing_zyx)]
    return np.meshgrid(*axes, indexing="ij")


def anisotropic_ct_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(HU volume, label map, spacing z, y, x): a soft-tissue body in air with small lesions."""
    spacing = (float(rng.uniform(2.5, 3.5)), *[float(rng.uniform(0.6, 0.8))] * 2)
    shape = (int(rng.integers(20, 29)), 128, 128)
    z, y, x = _grid(shape, spacing)
    body = (y / 40.0) ** 2 + (x / 44.0) ** 2 <= 1.0
    hu = np.where(body, 40.0, -1000.0) + rng.normal(0, 12.0, shape)
    label = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(3.0, 6.0)
        centre = [rng.uniform(-0.3, 0.3) * n * s for n, s in zip(shape, spacing)]
        inside = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2
        label[inside & body] = 1
    hu[label == 1] = rng.normal(110.0, 12.0, int(label.sum()))
    return hu.astype(np.int16), label, spacing


def two_label_mr_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(MR-like volume, label map with 1 = anterior and 2 = posterior, spacing)."""
    spacing = (1.0, 1.0, 1.0)
    shape = (int(rng.integers(32, 41)), int(rng.integers(44, 53)), int(rng.integers(32, 41)))
    z, y, x = _grid(shape, spacing)
    radii = (rng.uniform(4.0, 6.0), rng.uniform(13.0, 18.0), rng.uniform(4.0, 6.0))
    tilt = rng.uniform(-0.3, 0.3)
    yy = y + tilt * z
    structure = (z / radii[0]) ** 2 + (yy / radii[1]) ** 2 + (x / radii[2]) ** 2 <= 1.0
    split = rng.uniform(-3.0, 3.0)  # the boundary between the two halves, in mm along y
    label = np.zeros(shape, np.uint8)
    label[structure & (yy < split)] = 1
    label[structure & (yy >= split)] = 2
    tissue = 1.0 + 0.15 * np.sin(z / 5.0) * np.cos(x / 7.0)  # background texture
    values = np.where(label == 1, 1.35, np.where(label == 2, 1.25, tissue))
    bias = 1.0 + 0.2 * (y / shape[1]) + 0.1 * (x / shape[2])  # a smooth bias field
    scale = rng.uniform(150.0, 600.0)  # MR has no absolute units: each case its own scale
    values = values * bias * scale + rng.normal(0, 0.06 * scale, shape)
    return values.astype(np.float32), label, spacing


SETS = {
    "anisotropic-ct": (anisotropic_ct_case, "CT", ("background", "lesion")),
    "two-label-mr": (two_label_mr_case, "MRI", ("background", "anterior", "posterior")),
}


def write_segmentation_set(
    name: str, out: Path, cases: int = 40, test_cases: int = 10, seed: int = 0
) -> dict:
    """Write the set ``name`` (one of SETS) under ``out`` in nnU-Net's raw layout; returns what
    was written."""
    make_case, modality, labels = SETS[name]
    rng = np.random.default_rng(seed)
    for folder in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for i in range(cases + test_cases):
        images, masks = ("imagesTr", "labelsTr") if i < cases else ("imagesTs", "labelsTs")
        values, label, spacing = make_case(rng)
        _write(values, spacing, out / images / f"case_{i:03d}_0000.nii.gz")
        _write(label, spacing, out / masks / f"case_{i:03d}.nii.gz")
    (out / "dataset.json").write_text(
        json.dumps(
            {
                "name": name,
                "channel_names": {"0": modality},
                "labels": {label: value for value, label in enumerate(labels)},
                "numTraining": cases,
                "file_ending": ".nii.gz",
            },
            indent=2,
        )
    )
    return {"set": name, "cases": cases, "test_cases": test_cases, "out": str(out)}
