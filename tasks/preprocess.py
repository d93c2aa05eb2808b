"""Step 2: turn manifest rows into cached, memory-mappable tensors keyed by content.

An unchanged rerun recomputes nothing; a changed setting recomputes only the tensors whose key
changed; cache files no longer referenced are pruned.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from medimg import atomic
from medimg.layout import ProjectPaths
from medimg.manifest import read_manifest, usable, write_parquet
from medimg.params import Params, PreprocessParams
from medimg.preprocessing import cache_key, preprocess_ct
from medimg.volume_io import read_nifti


def cache_one(volume: Path, target: Path, spec: PreprocessParams) -> str | None:
    """Write one cached tensor; returns the reason instead if this volume cannot be preprocessed."""
    try:
        tensor = preprocess_ct(read_nifti(volume), spec)
    except ValueError as exc:
        return str(exc)
    atomic.write_with(target, lambda tmp: np.save(tmp, tensor), suffix=".npy")
    return None


def _cache_one_args(args: tuple[Path, Path, PreprocessParams]) -> str | None:
    return cache_one(*args)


def prune_cache(cache_dir: Path, keep: set[str]) -> int:
    removed = 0
    for path in cache_dir.glob("*.npy"):
        if path.name not in keep:
            path.unlink()
            removed += 1
    for leftover in cache_dir.glob(".tmp-*"):  # a killed earlier run's partial write
        leftover.unlink()
    return removed


def _compute(todo: list[tuple[Path, Path, PreprocessParams]], workers: int) -> list[str | None]:
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(tqdm(pool.map(_cache_one_args, todo), total=len(todo), desc="preprocess", unit="volume"))
    return [_cache_one_args(job) for job in tqdm(todo, desc="preprocess", unit="volume")]


def run_preprocess(params: Params, paths: ProjectPaths) -> dict:
    """Cache every usable 3D row of the manifest and write data/processed/index.parquet.

    A volume the recipe cannot handle is left out of the index and reported by series key.
    """
    spec = params.preprocess
    rows = usable(read_manifest(paths.manifest))
    other_ndim = int((rows["ndim"] != 3).sum())  # 2D items (radiographs, photos) need the 2D recipe
    rows = rows[rows["ndim"] == 3]
    rows = rows.assign(cache_key=[cache_key(c, spec) for c in rows["checksum"]])
    rows = rows.assign(cache_path=[f"cache/{k}.npy" for k in rows["cache_key"]])
    paths.cache.mkdir(parents=True, exist_ok=True)
    todo = [(paths.interim / v, paths.processed / c, spec)
            for v, c in zip(rows["volume_path"], rows["cache_path"]) if not (paths.processed / c).exists()]
    results = _compute(todo, min(spec.workers or os.cpu_count() or 1, max(len(todo), 1)))
    failures = {target.name: reason for (_, target, _), reason in zip(todo, results) if reason}
    rejected = {key: failures[Path(c).name] for key, c in zip(rows["series_key"], rows["cache_path"])
                if Path(c).name in failures}
    rows = rows[~rows["series_key"].isin(rejected)]
    pruned = prune_cache(paths.cache, {Path(c).name for c in rows["cache_path"]})
    rows = rows.assign(preprocess=spec.model_dump_json(exclude={"workers"}))
    write_parquet(rows.reset_index(drop=True), paths.index)
    return {"index": str(paths.index), "items": len(rows), "computed": len(todo) - len(failures),
            "reused": len(rows) - len(todo) + len(failures), "pruned": pruned, "rejected": rejected,
            "skipped_not_3d": other_ndim}
