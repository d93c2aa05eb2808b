"""Can the data pipeline feed the model? Samples per second for the demo's 3D input.

    .venv/bin/python bench/loader.py            # after `dvc repro` (needs data/interim and data/processed)

(a) decode each NIfTI and run the preprocessing recipe (what a loader without a cache does every
epoch), (b) read the cached tensors through the training Dataset and DataLoader, (c) the batched
3D augmentation on the training device, and (d) the model's training steps (forward, backward,
optimizer) at the params' batch size. The cache must beat decoding by 10x and the loader must
outrun training by 5x.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

from medimg.config.loading import load_params  # noqa: E402
from medimg.config.paths import ProjectPaths  # noqa: E402
from medimg.io.volumes import read_nifti  # noqa: E402
from medimg.models import build_model  # noqa: E402
from medimg.preprocess.recipes import preprocess_volume  # noqa: E402
from medimg.train.augment.volumes import augment_volumes  # noqa: E402
from medimg.train.datasets import CachedClassificationDataset, make_loader, read_split  # noqa: E402
from medimg.train.device import pick_device  # noqa: E402


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} samples/s"


def main() -> None:
    params = load_params(REPO / "params.yaml")
    paths = ProjectPaths.from_params(params, REPO)
    rows = read_split(paths.index, "train")
    device = pick_device(params.train.device)
    batch = params.train.batch_size
    print(
        f"{len(rows)} training items, {params.preprocess.target_shape} voxels, batch {batch}, device {device.type}, "
        f"{os.cpu_count()} cores"
    )

    sample = rows.head(24)
    tic = time.perf_counter()
    for volume in sample["volume_path"]:
        preprocess_volume(read_nifti(paths.interim / volume), params.preprocess)
    decode = time.perf_counter() - tic
    print(f"(a) decode NIfTI + preprocess  {rate(len(sample), decode)}")

    dataset = CachedClassificationDataset(rows, paths.processed, params.augment)
    best = None
    for workers in (0, 2):
        loader = make_loader(dataset, batch, workers, seed=0, train=True)
        next(iter(loader))  # start the workers outside the timing
        tic = time.perf_counter()
        seen = 0
        for _ in range(3):
            for x, _ in loader:
                seen += len(x)
        seconds = time.perf_counter() - tic
        best = max(best or 0, seen / seconds)
        print(f"(b) cache via DataLoader, {workers} workers {rate(seen, seconds)}")
    print(f"    cache / decode: {best / (len(sample) / decode):.0f}x")

    x = torch.stack([dataset[i][0] for i in range(batch)]).to(device)
    generator = torch.Generator().manual_seed(0)
    tic = time.perf_counter()
    for _ in range(20):
        augment_volumes(x, params.augment, generator)
    print(f"(c) 3D augmentation on {device.type}   {rate(20 * batch, time.perf_counter() - tic)}")

    model = build_model(params.model).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    steps = 10
    for index in range(steps + 2):
        if index == 2:
            tic = time.perf_counter()  # two warm-up steps
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    train = steps * batch / (time.perf_counter() - tic)
    print(f"(d) training steps              {train:8.1f} samples/s")
    print(f"    loader / training: {best / train:.0f}x")


if __name__ == "__main__":
    main()
