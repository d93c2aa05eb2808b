"""Step 2: turn manifest rows into cached, memory-mappable tensors keyed by content.

Each usable item gets ``cache/<key>.npy`` (and ``cache/<key>.mask.npy`` when it has a mask), where
the key hashes the image checksum, the mask's bytes, the recipe and its code version. An unchanged
rerun recomputes nothing; a changed setting recomputes only the tensors whose key changed; cache
files no longer referenced are pruned.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, PreprocessParams
from medimg.ingest.manifest import read_manifest, usable, write_parquet
from medimg.io import atomic
from medimg.io.digest import file_digest
from medimg.io.fan_out import MapItems
from medimg.io.volumes import read_nifti
from medimg.preprocess.recipes import Rejected, cache_key, preprocess_picture, preprocess_volume


@dataclass(frozen=True)
class CacheJob:
    image: Path
    mask: Path | None
    ndim: int
    target: Path
    mask_target: Path | None
    spec: PreprocessParams


def _save(target: Path, array: np.ndarray) -> None:
    atomic.write_with(target, lambda tmp: np.save(tmp, array), suffix=".npy")


def cache_one(job: CacheJob) -> tuple[str | None, list[float] | None]:
    """Write one cached tensor (and mask): (None, its voxel spacing), or (the reason, None) if the
    recipe rejects the item."""
    recipe = preprocess_volume if job.ndim == 3 else preprocess_picture
    try:
        prepared = recipe(
            read_nifti(job.image), job.spec, read_nifti(job.mask) if job.mask else None
        )
    except Rejected as exc:
        return exc.reason, None
    if job.mask_target is not None and prepared.mask is not None:
        _save(
            job.mask_target, prepared.mask
        )  # mask first: an image file present means the item is complete
    _save(job.target, prepared.tensor)
    return None, list(prepared.spacing)


def prune_cache(cache_dir: Path, keep: set[str]) -> int:
    removed = 0
    for path in cache_dir.glob("*.npy"):
        if path.name not in keep:
            path.unlink()
            removed += 1
    for leftover in cache_dir.glob(".tmp-*"):  # a killed earlier run's partial write
        leftover.unlink()
    return removed


def _compute(
    todo: list[CacheJob], workers: int, map_items: MapItems | None
) -> list[tuple[str | None, list[float] | None]]:
    if map_items is not None:
        return map_items(cache_one, todo)
    bar = dict(total=len(todo), desc="preprocess", unit="item")
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(tqdm(pool.map(cache_one, todo), **bar))
    return [cache_one(job) for job in tqdm(todo, **bar)]


def _known_spacings(index_path: Path) -> dict[str, list[float]]:
    if not index_path.exists():
        return {}
    index = pd.read_parquet(index_path)
    if "cache_spacing" not in index:
        return {}
    return {k: [float(v) for v in s] for k, s in zip(index["cache_key"], index["cache_spacing"])}


def plan_cache(rows: pd.DataFrame, paths: ProjectPaths, spec: PreprocessParams) -> pd.DataFrame:
    """Rows with their cache key and cache file names (``mask_cache_path`` empty without a mask)."""
    masks = [paths.interim / m if isinstance(m, str) and m else None for m in rows["mask_path"]]
    keys = [
        cache_key(c, spec, file_digest(m) if m else "") for c, m in zip(rows["checksum"], masks)
    ]
    return rows.assign(
        cache_key=keys,
        cache_path=[f"cache/{k}.npy" for k in keys],
        mask_cache_path=[f"cache/{k}.mask.npy" if m else None for k, m in zip(keys, masks)],
    )


def run_preprocess(params: Params, paths: ProjectPaths, map_items: MapItems | None = None) -> dict:
    """Cache every usable row of the manifest (3D volumes and 2D pictures) and write index.parquet.

    An item the recipe rejects is left out of the index and reported by series key with its reason.
    ``map_items`` replaces the local process pool for the per-item work (as in ingest).
    """
    atomic.sweep_leftovers(paths.processed)  # a killed run's half-written files
    spec = params.preprocess
    rows = plan_cache(usable(read_manifest(paths.manifest)), paths, spec)
    paths.cache.mkdir(parents=True, exist_ok=True)
    # the spacing of reused tensors comes from the previous index; an item without one is recomputed
    known = _known_spacings(paths.index)
    todo = [
        CacheJob(
            paths.interim / r.volume_path,
            paths.interim / r.mask_path if isinstance(r.mask_path, str) and r.mask_path else None,
            int(r.ndim),
            paths.processed / r.cache_path,
            paths.processed / r.mask_cache_path if r.mask_cache_path else None,
            spec,
        )
        for r in rows.itertuples()
        if not (paths.processed / r.cache_path).exists() or r.cache_key not in known
    ]
    results = _compute(todo, min(spec.workers or os.cpu_count() or 1, max(len(todo), 1)), map_items)
    failures = {job.target.name: reason for job, (reason, _) in zip(todo, results) if reason}
    known.update(
        {
            job.target.stem: spacing
            for job, (_, spacing) in zip(todo, results)
            if spacing is not None
        }
    )
    rejected = {
        key: failures[Path(c).name]
        for key, c in zip(rows["series_key"], rows["cache_path"])
        if Path(c).name in failures
    }
    rows = rows[~rows["series_key"].isin(rejected)]
    keep = {Path(c).name for c in rows["cache_path"]} | {
        Path(m).name for m in rows["mask_cache_path"].dropna()
    }
    pruned = prune_cache(paths.cache, keep)
    rows = rows.assign(
        cache_spacing=[known[k] for k in rows["cache_key"]],
        preprocess=spec.model_dump_json(exclude={"workers"}),
    )
    write_parquet(rows.reset_index(drop=True), paths.index)
    return {
        "index": str(paths.index),
        "items": len(rows),
        "computed": len(todo) - len(failures),
        "reused": len(rows) - len(todo) + len(failures),
        "pruned": pruned,
        "rejected": rejected,
    }
