import os
import pickle

import numpy as np
import pandas as pd
import torch

from medimg.config.schema import AugmentParams
from medimg.train.datasets import (
    CachedClassificationDataset,
    CachedSegmentationDataset,
    balanced_sampler,
    class_weights,
    loader_workers,
    make_loader,
)


def _cache(tmp_path, count: int = 12, shape=(3, 32, 32)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        np.save(tmp_path / f"{i}.npy", rng.random(shape, dtype=np.float32))
        np.save(tmp_path / f"{i}.mask.npy", (rng.random(shape[1:]) > 0.7).astype(np.uint8))
        rows.append({"cache_path": f"{i}.npy", "mask_cache_path": f"{i}.mask.npy", "label": i % 3})
    return pd.DataFrame(rows)


def _batches(loader) -> list[torch.Tensor]:
    return [x.clone() for x, _ in loader]


def test_same_seed_same_batches_with_two_workers(tmp_path):
    rows = _cache(tmp_path)
    augment = AugmentParams(rotate_degrees=15, scale=0.1, brightness=0.1, flip_axes=[2])

    def loader(seed):
        return make_loader(
            CachedClassificationDataset(rows, tmp_path, augment),
            4,
            num_workers=2,
            seed=seed,
            train=True,
        )

    first, again, other = _batches(loader(5)), _batches(loader(5)), _batches(loader(6))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_items_are_memory_mapped_and_the_dataset_holds_no_arrays(tmp_path):
    rows = _cache(tmp_path, count=40)
    dataset = CachedSegmentationDataset(rows, tmp_path)
    assert isinstance(dataset._image(0), np.memmap)
    small, large = (
        len(pickle.dumps(CachedSegmentationDataset(rows.head(4), tmp_path))),
        len(pickle.dumps(dataset)),
    )
    assert large < 4 * 1024 and large < 10 * small  # what a worker receives: paths, not tensors
    image, mask = dataset[3]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32) and mask.dtype == torch.int64


def test_class_weights_inverse_and_effective_number():
    labels = np.array([0] * 90 + [1] * 10)
    inverse = class_weights(labels, 2, "inverse")
    torch.testing.assert_close(inverse, torch.tensor([0.2, 1.8]))
    effective = class_weights(labels, 2, "effective", beta=0.99)
    raw = np.array([(1 - 0.99) / (1 - 0.99**90), (1 - 0.99) / (1 - 0.99**10)])
    torch.testing.assert_close(effective, torch.tensor(raw / raw.sum() * 2, dtype=torch.float32))
    assert effective[1] / effective[0] < inverse[1] / inverse[0]  # gentler than inverse frequency
    assert torch.equal(class_weights(labels, 2, "none"), torch.ones(2))


def test_balanced_sampler_draws_classes_equally():
    labels = np.array([0] * 900 + [1] * 100)
    drawn = labels[list(balanced_sampler(labels, torch.Generator().manual_seed(0)))]
    assert abs(drawn.mean() - 0.5) < 0.05


def test_auto_loader_workers_feed_a_gpu_and_leave_a_cpu_its_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert loader_workers("auto", torch.device("cuda", 0)) == 8
    assert loader_workers("auto", torch.device("cpu")) == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert loader_workers("auto", torch.device("cuda", 0)) == 1
    assert loader_workers(3, torch.device("cpu")) == 3  # an explicit number is kept
