"""What a training stage is set up from: its initial weights, a check that the items fit the
model, the fingerprint a resumable last.pt must match, and the headline DVC lists."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, ParamsError
from medimg.io.digest import file_digest, settings_fingerprint
from medimg.train.checkpoint import load_checkpoint


def initial_weights(
    params: Params, paths: ProjectPaths, stage_index: int, fold: int | None = None
) -> Path | None:
    """Stage N>0: stage N-1's best checkpoint (the same fold's). Stage 0: model.init when it is a
    checkpoint path."""
    if stage_index > 0:
        return paths.stage_dir(params.train.stages[stage_index - 1].name, fold) / "ckpt.pt"
    if params.model.init in ("none", "imagenet"):
        return None
    return paths.root / params.model.init


def load_initial_weights(model, source: Path) -> None:
    state = load_checkpoint(source)["model"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ParamsError(
            f"model.init: {source} does not fit this model (missing {len(missing)} tensors, e.g. "
            f"{missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]}); it was "
            "trained with another model.name or size"
        )


def check_items_fit(rows: pd.DataFrame, params: Params) -> None:
    info = CATALOG[params.model.name]
    dims = set(rows["ndim"].astype(int))
    if dims == {3} and info.ndim == 3:
        wanted = {int(c) * params.preprocess.volume_channels() for c in rows["channels"]}
        if wanted != {params.model.in_channels}:
            raise ParamsError(
                f"model.in_channels: {params.model.in_channels}, but the training volumes give "
                f"{sorted(wanted)} channel(s) (image channels x (1 + len(preprocess.extra_windows)))"
            )
    if dims == {3} and info.ndim == 2 and info.task == "segmentation":
        return  # trains on axial slices (sampling.slices)
    if dims != {info.ndim}:
        raise ParamsError(
            f"model.name: {params.model.name} takes {info.ndim}D inputs, but the training items in "
            f"data/processed are {sorted(dims)}D; choose a {sorted(dims)[0]}D model or other data"
        )


def stage_fingerprint(
    params: Params,
    stage_index: int,
    paths: ProjectPaths,
    source: Path | None,
    device,
    ranks,
    fold: int | None,
    code_digest: str,
) -> str:
    """What a resumable last.pt must match: params, data, initial weights, device, world size and
    the code the stage runs (its digest, as the stage's dvc.yaml entry lists that code)."""
    folds = {"fold": fold, "splits": file_digest(paths.splits)} if fold is not None else {}
    return settings_fingerprint(
        {
            **folds,
            "stage": params.train.stages[stage_index].model_dump(),
            "model": params.model.model_dump(),
            "train": params.train.model_dump(exclude={"num_workers", "stages"}),
            "loss": params.loss.model_dump(),
            "augment": params.augment.model_dump(),
            "sampling": params.sampling.model_dump(),
            "index": file_digest(paths.index),
            "init": file_digest(source) if source else None,
            "device": device.type,
            "world_size": ranks.world_size,
            # an edit to any code the stage depends on (as dvc.yaml lists it) must not resume old work
            "code": code_digest,
        }
    )


def stage_headline(summary: dict) -> dict:
    """What `dvc metrics show` lists for a stage (models/<stage>/metrics.json): the best epoch and
    its figure, epochs run and items; device and model stay in summary.json."""
    best = next(k for k in summary if k.startswith("best_") and k != "best_epoch")
    if "per_fold" in summary:  # k-fold: the figure's mean and sd over the folds
        keys = ("folds", best, best.replace("_mean", "_sd"), "val_items")
    else:
        keys = ("best_epoch", best, "epochs_run", "train_items", "val_items")
    return {k: summary[k] for k in keys}
