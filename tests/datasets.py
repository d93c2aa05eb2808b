"""Dataset folders written in code for the tests: an nnU-Net raw folder with two channels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def volume(values: np.ndarray, spacing=(1.5, 1.5, 3.0), origin=(-20.0, 10.0, 5.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def write_nnunet(raw: Path, cases: int = 4, test_cases: int = 2, shape=(8, 12, 12)) -> None:
    """``imagesTr``/``labelsTr`` and ``imagesTs``/``labelsTs`` of CT + PET-like channels; every other
    case has a bright lesion in both channels and in its label map. Case names carry a fake name."""
    rng = np.random.default_rng(1)
    for folder in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (raw / folder).mkdir(parents=True)
    z, y, x = shape
    for i in range(cases + test_cases):
        images, labels = ("imagesTr", "labelsTr") if i < cases else ("imagesTs", "labelsTs")
        case = f"DOE_JOHN_{i:03d}"  # file names can carry a patient's name
        mask = np.zeros(shape, np.uint8)
        if i % 2 == 0:
            mask[z // 3 : z // 3 + z // 4, y // 3 : y // 3 + y // 3, x // 3 : x // 3 + x // 3] = 1
        for channel, (base, lesion) in enumerate(((-100.0, 300.0), (1.0, 8.0))):
            values = rng.normal(base, abs(base) * 0.1 + 1, shape) + lesion * mask
            sitk.WriteImage(
                volume(values.astype(np.float32)),
                str(raw / images / f"{case}_{channel:04d}.nii.gz"),
            )
        sitk.WriteImage(volume(mask), str(raw / labels / f"{case}.nii.gz"))
    (raw / "dataset.json").write_text(
        json.dumps(
            {
                "channel_names": {"0": "CT", "1": "PET"},
                "labels": {"background": 0, "lesion": 1},
                "numTraining": cases,
                "file_ending": ".nii.gz",
            }
        )
    )
