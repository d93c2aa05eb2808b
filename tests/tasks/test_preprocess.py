import shutil

import numpy as np
import pandas as pd

from medimg.config.paths import ProjectPaths
from tasks.preprocess import run_preprocess


def test_cache_holds_one_windowed_tensor_per_item(tiny, preprocessed):
    params, paths = tiny
    index = pd.read_parquet(paths.index)
    assert preprocessed["items"] == len(index) == 12 and preprocessed["rejected"] == {}
    tensor = np.load(paths.processed / index["cache_path"][0], mmap_mode="r")
    assert (
        isinstance(tensor, np.memmap)
        and tensor.shape == (1, 32, 32, 32)
        and tensor.dtype == np.float32
    )
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    assert index["cache_key"].is_unique
    mask = np.load(paths.processed / index["mask_cache_path"][0], mmap_mode="r")
    assert mask.shape == (32, 32, 32) and mask.dtype == np.uint8
    with_nodule = index[index["label"] == 1]
    assert all(np.load(paths.processed / m).any() for m in with_nodule["mask_cache_path"])


def test_rerun_reuses_everything_and_a_new_window_recomputes_into_new_keys(
    tiny, preprocessed, tmp_path
):
    params, paths = tiny
    before = pd.read_parquet(paths.index)
    again = run_preprocess(params, paths)
    assert again["computed"] == 0 and again["reused"] == 12 and again["pruned"] == 0
    # reused tensors keep the voxel spacing recorded when they were computed
    after = pd.read_parquet(paths.index)
    assert [list(s) for s in after["cache_spacing"]] == [list(s) for s in before["cache_spacing"]]
    assert all(len(s) == 3 and min(s) > 0 for s in after["cache_spacing"])
    # a copy of the project, so the session's cache stays as the other tests expect it
    other = params.model_copy(
        update={
            "preprocess": params.preprocess.model_copy(
                update={
                    "window": params.preprocess.window.model_copy(update={"preset": "mediastinum"})
                }
            )
        }
    )
    copy_root = tmp_path / "copy"
    (copy_root / params.data.processed_dir).parent.mkdir(parents=True)
    shutil.copytree(paths.processed, copy_root / params.data.processed_dir)
    shutil.copytree(paths.interim, copy_root / params.data.interim_dir)
    copied = ProjectPaths.from_params(other, copy_root)
    changed = run_preprocess(other, copied)
    assert (
        changed["computed"] == 12 and changed["pruned"] == 24
    )  # old tensors and masks are no longer referenced
    old_keys = set(pd.read_parquet(paths.index)["cache_key"])
    assert old_keys.isdisjoint(pd.read_parquet(copied.index)["cache_key"])
