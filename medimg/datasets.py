"""Datasets over the tensor cache. Files are memory-mapped, so workers share pages, not copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from medimg.params import AugmentParams


class CachedVolumeDataset(Dataset):
    """(tensor (C, z, y, x), label) pairs from ``index.parquet`` rows, optionally augmented."""

    def __init__(self, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None) -> None:
        self.files = [processed_dir / p for p in rows["cache_path"]]
        self.labels = rows["label"].astype(int).to_numpy()
        self.augment = augment if augment and augment.enabled else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        volume = np.load(self.files[index], mmap_mode="r")
        if self.augment:
            volume = self._augment(volume, torch.randint(0, 2**31, ()).item())
        return torch.from_numpy(np.array(volume, dtype=np.float32)), int(self.labels[index])  # copy out of the mmap

    def _augment(self, volume: np.ndarray, seed: int) -> np.ndarray:
        """Random flips and a small intensity shift; seeded from torch so loaders stay deterministic."""
        rng = np.random.default_rng(seed)
        for axis in self.augment.flip_axes:
            if rng.random() < 0.5:
                volume = np.flip(volume, axis=axis + 1)  # +1: channel axis first
        if self.augment.intensity_shift:
            volume = volume + rng.uniform(-self.augment.intensity_shift, self.augment.intensity_shift)
        return volume
