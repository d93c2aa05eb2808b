"""Datasets over the tensor cache, one per workload, for 2D and 3D items alike.

Files are memory-mapped, so loader workers share the page cache instead of holding copies: a
worker's memory stays flat however large the cache grows. 2D items are augmented here with
albumentations; 3D batches are augmented later, on the training device (medimg.train.augment.volumes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, RandomSampler, Sampler, WeightedRandomSampler

from medimg.config.schema import AugmentParams, SamplingParams
from medimg.io.problems import InputError, MissingInput
from medimg.train.augment.pictures import augment_picture, picture_augmentation
from medimg.train.augment.volumes import enlarged_patch


class _CachedItems(Dataset):
    def __init__(
        self, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None
    ) -> None:
        self.files = [processed_dir / p for p in rows["cache_path"]]
        self.augment = augment if augment and augment.enabled else None
        self._pipelines: dict[bool, object] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _image(self, index: int) -> np.ndarray:
        return np.load(self.files[index], mmap_mode="r")

    def _augment_2d(
        self, image: np.ndarray, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """2D augmentation seeded from torch, so loader seeds (and workers) decide it reproducibly."""
        if self.augment is None or image.ndim != 3:
            return image, mask
        colour = image.shape[0] == 3
        if colour not in self._pipelines:
            self._pipelines[colour] = picture_augmentation(self.augment, colour)
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        return augment_picture(self._pipelines[colour], np.asarray(image), mask, seed)


class CachedClassificationDataset(_CachedItems):
    """(image (C, [z,] y, x) float32, label) pairs from index rows."""

    def __init__(
        self, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None
    ) -> None:
        super().__init__(rows, processed_dir, augment)
        self.labels = rows["label"].astype(int).to_numpy()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, _ = self._augment_2d(self._image(index), None)
        return torch.from_numpy(np.array(image, dtype=np.float32)), int(
            self.labels[index]
        )  # copy out of the mmap


class CachedSegmentationDataset(_CachedItems):
    """(image (C, [z,] y, x) float32, mask ([z,] y, x) int64) pairs from index rows with a cached mask."""

    def __init__(
        self, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None
    ) -> None:
        missing = rows["mask_cache_path"].isna()
        if missing.any():
            raise InputError(
                f"{int(missing.sum())} item(s) have no mask; segmentation needs data.mask_column"
            )
        super().__init__(rows, processed_dir, augment)
        self.masks = [processed_dir / p for p in rows["mask_cache_path"]]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._augment_2d(
            self._image(index), np.load(self.masks[index], mmap_mode="r")
        )
        return (
            torch.from_numpy(np.array(image, dtype=np.float32)),
            torch.from_numpy(np.array(mask, dtype=np.int64)),
        )


class VolumeSliceDataset(CachedSegmentationDataset):
    """Axial slices of cached volumes for 2D segmentation models: (image (C, y, x), mask (y, x)).

    ``foreground[i]`` says whether item i's slice holds any mask voxel, for ForegroundSliceSampler.
    """

    def __init__(
        self, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None
    ) -> None:
        super().__init__(rows, processed_dir, augment)
        per_volume = [np.load(m, mmap_mode="r").any(axis=(1, 2)) for m in self.masks]
        self.items = [(v, z) for v, flags in enumerate(per_volume) for z in range(len(flags))]
        self.foreground = np.concatenate(per_volume)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        volume, z = self.items[index]
        image = np.load(self.files[volume], mmap_mode="r")[:, z]
        mask = np.load(self.masks[volume], mmap_mode="r")[z]
        image, mask = self._augment_2d(np.asarray(image), np.asarray(mask))
        return (
            torch.from_numpy(np.array(image, dtype=np.float32)),
            torch.from_numpy(np.array(mask, dtype=np.int64)),
        )


class ForegroundSliceSampler(Sampler[int]):
    """Every slice through the mask, plus ``empty_fraction`` of the empty ones drawn afresh each epoch.

    Draws from torch's global generator, which the training loop reseeds per epoch, so a resumed
    stage sees the same slices.
    """

    def __init__(self, foreground: np.ndarray, empty_fraction: float) -> None:
        self.full = np.flatnonzero(foreground)
        self.empty = np.flatnonzero(~foreground)
        self.drawn = round(len(self.empty) * empty_fraction)

    def __len__(self) -> int:
        return len(self.full) + self.drawn

    def __iter__(self):
        empty = self.empty[torch.randperm(len(self.empty))[: self.drawn].numpy()]
        chosen = np.concatenate([self.full, empty])
        return iter(chosen[torch.randperm(len(chosen)).numpy()].tolist())


class VolumePatchDataset(CachedSegmentationDataset):
    """Random 3D patches, ``per_volume`` per volume and epoch, as nnU-Net's loader draws them.

    A patch of ``load_size`` is read (the trained ``size``, enlarged so that the augmentation's
    warp stays inside it) and may reach past the volume's edge, zero-padded, by half the
    enlargement: so the final patch's centre can reach every voxel. ForegroundPatchSampler asks
    for slot ``i`` as ``i + len(self)`` (forced onto foreground: a class present in the volume is
    chosen at random, then one of its voxels is centred) or ``i + 2 * len(self)`` (anywhere);
    a plain index below ``len(self)`` lets a coin with ``foreground_ratio`` decide (loaders that
    know nothing of batches, such as torchrun's)."""

    def __init__(
        self,
        rows: pd.DataFrame,
        processed_dir: Path,
        size: list[int],
        foreground_ratio: float,
        per_volume: int,
        load_size: list[int] | None = None,
    ) -> None:
        super().__init__(rows, processed_dir)
        self.size, self.ratio, self.per_volume = list(size), foreground_ratio, per_volume
        self.load_size = list(load_size or size)
        self.locations = [self._class_voxels(m) for m in self.masks]

    @staticmethod
    def _class_voxels(mask_path: Path, keep: int = 10_000) -> dict[int, np.ndarray]:
        """{class: up to ``keep`` of its voxels, evenly spaced} for each foreground class."""
        mask = np.asarray(np.load(mask_path, mmap_mode="r"))
        out = {}
        for label in np.unique(mask):
            if label > 0:
                voxels = np.argwhere(mask == label)
                pick = np.linspace(0, len(voxels) - 1, min(keep, len(voxels))).astype(int)
                out[int(label)] = voxels[pick]
        return out

    def __len__(self) -> int:
        return len(self.files) * self.per_volume

    def _bounds(self, shape: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """Lowest and highest start of a load_size patch (nnU-Net's need_to_pad rule)."""
        lows, highs = [], []
        for n, final, load in zip(shape, self.size, self.load_size):
            pad = load - final
            if pad + n < load:
                pad = load - n
            lows.append(-(pad // 2))
            highs.append(n + pad // 2 + pad % 2 - load)
        return lows, highs

    def start(self, volume: int, forced: bool, shape: tuple[int, ...]) -> list[int]:
        """Where a load_size patch of ``volume`` (spatial ``shape``) begins."""
        lows, highs = self._bounds(shape)
        classes = sorted(self.locations[volume])
        # torch's generator: seeded per epoch by the loop, and per worker by the loader
        if forced and classes:
            label = classes[int(torch.randint(len(classes), ()))]
            voxels = self.locations[volume][label]
            centre = voxels[int(torch.randint(len(voxels), ()))]
            return [
                int(np.clip(c - p // 2, lo, hi))
                for c, p, lo, hi in zip(centre, self.load_size, lows, highs)
            ]
        return [int(torch.randint(lo, hi + 1, ())) for lo, hi in zip(lows, highs)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        kind, slot = divmod(index, len(self))
        forced = kind == 1 or (kind == 0 and float(torch.rand(())) < self.ratio)
        volume = slot // self.per_volume
        image = np.load(self.files[volume], mmap_mode="r")
        mask = np.load(self.masks[volume], mmap_mode="r")
        start = self.start(volume, forced, image.shape[1:])
        return (
            torch.from_numpy(padded_box(image, start, self.load_size, leading=1)),
            torch.from_numpy(padded_box(mask, start, self.load_size).astype(np.int64)),
        )


def padded_box(
    array: np.ndarray, start: list[int], size: list[int], leading: int = 0
) -> np.ndarray:
    """``array[..., start:start+size]`` on its last axes, zero where the box leaves the array."""
    shape = array.shape[leading:]
    inside = tuple(slice(max(a, 0), min(a + p, n)) for a, p, n in zip(start, size, shape))
    pad = [(0, 0)] * leading + [
        (max(-a, 0), max(a + p - n, 0)) for a, p, n in zip(start, size, shape)
    ]
    part = np.asarray(array[(slice(None),) * leading + inside], dtype=np.float32)
    return np.pad(part, pad) if any(p != (0, 0) for p in pad) else part.copy()


class ForegroundPatchSampler(Sampler[int]):
    """Every patch slot once per epoch, shuffled, or ``batches`` batches of slots drawn at random
    (nnU-Net's fixed epoch of 250), with the last ``round(batch x ratio)`` of each batch forced
    onto foreground (nnU-Net's oversampling: 1/3 of every batch, not a coin per sample). Slots
    are asked for as ``slot + slots`` (forced) or ``slot + 2 * slots`` (anywhere), as
    VolumePatchDataset reads them. Draws from torch's global generator, which the training loop
    reseeds per epoch."""

    def __init__(self, slots: int, batch_size: int, ratio: float, batches: int | None = None):
        self.slots, self.batch_size, self.batches = slots, batch_size, batches
        self.unforced = round(batch_size * (1 - ratio))

    def __len__(self) -> int:
        return self.slots if self.batches is None else self.batches * self.batch_size

    def __iter__(self):
        if self.batches is None:
            order = torch.randperm(self.slots).tolist()
        else:
            order = torch.randint(self.slots, (len(self),)).tolist()
        for position, slot in enumerate(order):
            forced = position % self.batch_size >= self.unforced
            yield slot + self.slots * (1 if forced else 2)


def task_dataset(
    task: str, rows: pd.DataFrame, processed_dir: Path, augment: AugmentParams | None = None
) -> _CachedItems:
    """The dataset a model's task reads whole items from: (image, label) for classification, (image,
    mask) for segmentation."""
    kind = CachedSegmentationDataset if task == "segmentation" else CachedClassificationDataset
    return kind(rows, processed_dir, augment)


def training_samples(
    task: str,
    model_ndim: int,
    rows: pd.DataFrame,
    processed_dir: Path,
    sampling: SamplingParams,
    augment: AugmentParams | None = None,
    batch_size: int = 2,
) -> tuple[_CachedItems, Sampler | None]:
    """What one training step sees, and the sampler that draws it (None: plain shuffling).

    A 2D segmentation model on volumes trains on slices (all, or those through the mask plus a
    fraction of empty ones); a 3D one with ``sampling.patches.size`` on patches (a part of each
    ``batch_size`` forced onto foreground, loaded larger when ``augment`` warps them); all else on
    items: each once per epoch, or with ``sampling.patches.batches_per_epoch`` (the plan's
    compute budget for a picture segmenter) that many batches drawn at random.
    """
    volumes = task == "segmentation" and int(rows["ndim"].iloc[0]) == 3
    if volumes and model_ndim == 2:
        slices = VolumeSliceDataset(rows, processed_dir, augment)
        chosen = sampling.slices
        return slices, (
            ForegroundSliceSampler(slices.foreground, chosen.empty_fraction)
            if chosen.select == "foreground"
            else None
        )
    if volumes and sampling.patches.size is not None:
        spec = sampling.patches
        load = enlarged_patch(spec.size, augment) if augment and augment.enabled else spec.size
        patches = VolumePatchDataset(
            rows, processed_dir, spec.size, spec.foreground_ratio, spec.per_volume, load
        )
        return patches, ForegroundPatchSampler(
            len(patches), batch_size, spec.foreground_ratio, spec.batches_per_epoch
        )
    items = task_dataset(task, rows, processed_dir, augment)
    batches = sampling.patches.batches_per_epoch
    if task != "segmentation" or batches is None:
        return items, None
    # torch's global generator draws them, which the training loop reseeds per epoch
    return items, RandomSampler(items, replacement=True, num_samples=batches * batch_size)


def class_weights(
    labels: np.ndarray, num_classes: int, rule: str, beta: float = 0.999
) -> torch.Tensor:
    """Loss weights per class, normalised to sum to the number of classes.

    'inverse': n / (k · n_c). 'effective': (1 - beta) / (1 - beta^n_c), the effective number of
    samples (Cui et al., 2019), which grows more slowly than the count for large classes.
    """
    if rule == "none":
        return torch.ones(num_classes)
    counts = np.maximum(np.bincount(labels, minlength=num_classes).astype(float), 1.0)
    raw = 1.0 / counts if rule == "inverse" else (1.0 - beta) / (1.0 - np.power(beta, counts))
    return torch.tensor(raw / raw.sum() * num_classes, dtype=torch.float32)


def balanced_sampler(labels: np.ndarray, generator: torch.Generator) -> WeightedRandomSampler:
    """Draws every class equally often (with replacement), one epoch = len(labels) draws."""
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double),
        len(labels),
        replacement=True,
        generator=generator,
    )


def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in each loader worker from torch's per-worker seed (itself from the loader)."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def read_split(index_path: Path, split: str) -> pd.DataFrame:
    """The index rows of one split; an empty split is an error that names the file and the split."""
    index = pd.read_parquet(index_path)
    rows = index[index["split"] == split]
    if rows.empty:
        raise InputError(
            f"{index_path}: no items in split {split!r}; check split.ratios and the data size"
        )
    return rows.reset_index(drop=True)


def read_fold(
    index_path: Path, splits_path: Path, folds: int, fold: int, part: str
) -> pd.DataFrame:
    """The index rows fold ``fold`` trains on (``part`` train) or validates on (val), by patient as
    splits.json assigns them; every non-test item is in one fold's val part."""
    if not splits_path.exists():
        raise MissingInput(f"{splits_path}: no folds; run the ingest step (split.folds: {folds})")
    document = json.loads(splits_path.read_text())
    if document.get("folds") != folds:
        raise InputError(
            f"{splits_path} holds {document.get('folds')} fold(s) but split.folds is {folds}; "
            "run the ingest step again"
        )
    patients = set(document["splits"][fold][part])
    index = pd.read_parquet(index_path)
    rows = index[(index["split"] != "test") & index["patient_key"].isin(patients)]
    if rows.empty:
        raise InputError(f"{index_path}: fold {fold} has no {part} items")
    return rows.reset_index(drop=True)


def fold_rows(
    index_path: Path, splits_path: Path, folds: int, fold: int | None, part: str
) -> pd.DataFrame:
    """The items a model trains (``part`` train) or validates (val) on: the train/val split when
    ``fold`` is None, else fold ``fold``'s share of the non-test items."""
    if fold is None:
        return read_split(index_path, part)
    return read_fold(index_path, splits_path, folds, fold, part)


def loader_workers(choice: int | str, device: torch.device) -> int:
    """train.num_workers resolved: ``auto`` gives a GPU enough loader processes that it never waits
    for data (on the H100, 2D slices with augmentation waited 40% of each epoch with none, 4% with
    4), and a CPU none, since there the loader would take cores from the training itself."""
    if choice != "auto":
        return int(choice)
    return 0 if device.type == "cpu" else min(8, max((os.cpu_count() or 1) - 1, 0))


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    train: bool,
    weighted: bool = False,
    sampler: torch.utils.data.Sampler | None = None,
) -> torch.utils.data.DataLoader:
    """A loader whose batches depend only on ``seed`` (reseed its generator per epoch), with any worker count.

    Training loaders shuffle (or draw class-balanced when ``weighted``) and drop a last batch of one
    sample, which would break BatchNorm; it is reshuffled into the next epoch.
    """
    generator = torch.Generator().manual_seed(seed)
    if sampler is None and train and weighted:
        sampler = balanced_sampler(dataset.labels, generator)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        generator=generator,
        drop_last=train and len(dataset) > batch_size,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )
