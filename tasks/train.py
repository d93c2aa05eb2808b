"""Step 3: train one stage (freeze, unfreeze, ...); stage N starts from stage N-1's best checkpoint.

With ``split.folds`` > 1 the stage trains one model per fold (fold k's stage N starts from fold k's
stage N-1), and its ckpt.pt holds the folds' ensemble. Run it again after a kill and each fold
resumes from its last.pt, provided params, data and initial weights are unchanged; a fold already
trained ends at once. Under ``torchrun`` the same function trains data-parallel.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import pandas as pd

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, ParamsError
from medimg.io import atomic
from medimg.io.digest import file_digest, settings_fingerprint
from medimg.io.fan_out import MapItems
from medimg.models import build_model
from medimg.models.whole_volume import whole_item_model
from medimg.pipeline.steps import stage_code_digest
from medimg.tracking.runs import (
    Tracker,
    absolute_store,
    flatten,
    open_store,
    pipeline_key,
    tracking_run,
)
from medimg.train.checkpoint import load_checkpoint, load_resume_state, save_checkpoint
from medimg.train.curves import plot_curves
from medimg.train.datasets import (
    ForegroundPatchSampler,
    class_weights,
    fold_rows,
    loader_workers,
    make_loader,
    task_dataset,
    training_samples,
)
from medimg.train.device import pick_device
from medimg.train.distributed import init_distributed, shard_sampler
from medimg.train.folds import combine_folds, folds_trained, untrained_summary
from medimg.train.loop import StageRun, seed_everything
from medimg.train.optim import apply_trainable, nothing_to_train


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


def _fingerprint(
    params: Params,
    stage_index: int,
    paths: ProjectPaths,
    source: Path | None,
    device,
    ranks,
    fold: int | None,
) -> str:
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
            "code": stage_code_digest("train", Path(__file__).resolve().parents[1]),
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


def run_train(
    params: Params,
    paths: ProjectPaths,
    stage_name: str,
    fresh: bool = False,
    fold: int | None = None,
    map_items: MapItems | None = None,
) -> dict:
    """Train ``stage_name``; writes models/<stage>/ckpt.pt (best weights), last.pt, history.json,
    summary.json and curves.png. ``fresh`` ignores a resumable last.pt. With ``split.folds`` > 1
    each fold (or only ``fold``) trains in models/<stage>/fold_<k>/, and once every fold has, the
    stage's ckpt.pt, summary.json, metrics.json and history.json describe their ensemble.
    ``map_items`` trains the folds elsewhere (one Prefect task per fold on the flow's runner)."""
    folds = params.split.folds
    if fold is not None and not 0 <= fold < folds:
        raise ParamsError(f"--fold {fold}: split.folds is {folds}, so folds run 0 to {folds - 1}")
    if folds == 1:
        return train_one(params, paths, stage_name, fresh)
    todo = list(range(folds)) if fold is None else [fold]
    # the folds may train in other processes (Dask workers): give them the parent run's key and an
    # absolute store, and make both here first so their concurrent first writes do not race
    key = pipeline_key(params, paths.index)
    params = params.model_copy(update={"tracking": absolute_store(params.tracking, paths.root)})
    open_store(params.tracking, key)
    one_fold = functools.partial(train_one, params, paths, stage_name, fresh, parent_key=key)
    results = map_items(one_fold, todo) if map_items else [one_fold(k) for k in todo]
    fold_dirs = [paths.stage_dir(stage_name, k) for k in range(folds)]
    if not folds_trained(fold_dirs):
        return {"folds_trained": [r["fold"] for r in results], "ensemble": None}
    stage_dir = paths.stage_dir(stage_name)
    _, stage = params.train.stage(stage_name)
    summary = combine_folds(
        stage_dir,
        fold_dirs,
        stage.early_stopping.metric,
        {"stage": stage_name, "model": params.model.name, "device": results[0]["device"]},
    )
    atomic.write_json(stage_dir / "metrics.json", stage_headline(summary))
    return {"checkpoint": str(stage_dir / "ckpt.pt"), **summary}


def train_one(
    params: Params,
    paths: ProjectPaths,
    stage_name: str,
    fresh: bool = False,
    fold: int | None = None,
    parent_key: str | None = None,
) -> dict:
    """Train one model for ``stage_name``: the only one, or fold ``fold``'s, its MLflow run under
    the pipeline's parent run ``parent_key`` (by default this process's pipeline_key)."""
    index, stage = params.train.stage(stage_name)
    ranks = init_distributed()
    seed = params.train.seed + index
    seed_everything(seed, params.train.deterministic)
    device = pick_device(params.train.device, ranks.local_rank)
    info = CATALOG[params.model.name]
    train_rows, val_rows = (
        fold_rows(paths.index, paths.splits, params.split.folds, fold, part)
        for part in ("train", "val")
    )
    check_items_fit(train_rows, params)
    model = build_model(params.model)
    source = initial_weights(params, paths, index, fold)
    if source is not None:
        load_initial_weights(model, source)
    apply_trainable(model, stage)
    classify = info.task == "classification"
    weights = (
        class_weights(
            train_rows["label"].astype(int).to_numpy(),
            params.model.num_classes,
            params.loss.class_weights,
            params.loss.effective_beta,
        )
        if classify
        else None
    )
    stage_dir = paths.stage_dir(stage.name, fold)
    stage_dir.mkdir(parents=True, exist_ok=True)
    atomic.sweep_leftovers(stage_dir)  # a killed run's half-written files; last.pt itself is whole
    reason = nothing_to_train(stage, index, params.model.init)
    if reason is not None:
        print(f"train: {reason}", file=sys.stderr)
        summary = untrained_summary(stage.name, stage.early_stopping.metric, reason)
        summary.update(
            model=params.model.name, fold=fold, train_items=len(train_rows), val_items=len(val_rows)
        )
        save_checkpoint(stage_dir / "ckpt.pt", {"model": model.state_dict(), "args": {}})
        atomic.write_json(stage_dir / "history.json", {"history": []})
        atomic.write_json(stage_dir / "summary.json", summary)
        atomic.write_json(stage_dir / "metrics.json", stage_headline(summary))
        return {"checkpoint": str(stage_dir / "ckpt.pt"), "device": device.type, **summary}
    fingerprint = _fingerprint(params, index, paths, source, device, ranks, fold)
    resume = None if fresh else load_resume_state(stage_dir / "last.pt", fingerprint)
    train_set, sampler = training_samples(
        info.task,
        info.ndim,
        train_rows,
        paths.processed,
        params.sampling,
        params.augment,
        params.train.batch_size,
    )
    val_set = task_dataset(info.task, val_rows, paths.processed)
    tp = params.train
    if ranks.distributed:
        if isinstance(sampler, ForegroundPatchSampler):
            sampler = None  # each rank's patches then oversample foreground by a coin per patch
        if sampler is not None or tp.sampler == "weighted":
            raise ParamsError(
                "train.sampler: weighted and sampling.slices.select: foreground are not supported "
                "under torchrun; use shuffle and all"
            )
        sampler = shard_sampler(train_set, ranks, seed)
    workers = loader_workers(tp.num_workers, device)
    train_loader = make_loader(
        train_set,
        tp.batch_size,
        workers,
        seed,
        True,
        weighted=tp.sampler == "weighted",
        sampler=sampler,
    )
    val_loader = make_loader(val_set, tp.batch_size, workers, seed, False)
    tracking = (
        tracking_run(
            params.tracking,
            f"train-{stage.name}" + ("" if fold is None else f"-fold{fold}"),
            {"step": "train", "stage": stage.name, **({} if fold is None else {"fold": str(fold)})},
            parent_key=parent_key or pipeline_key(params, paths.index),
            run_id=resume["args"].get("mlflow_run_id") if resume else None,
        )
        if ranks.is_main
        else contextlib.nullcontext(Tracker(None))
    )
    with tracking as tracker:
        run = StageRun(
            model=model,
            stage=stage,
            train_params=tp,
            task=info.task,
            train_loader=train_loader,
            val_loader=val_loader,
            device=device,
            stage_dir=stage_dir,
            seed=seed,
            num_classes=params.model.num_classes,
            loss=params.loss,
            class_weights=weights,
            augment=params.augment if params.augment.enabled else None,
            patch_size=params.sampling.patches.size if info.task == "segmentation" else None,
            resume_state=resume,
            ranks=ranks,
            whole_items=lambda net: whole_item_model(net, info.task, info.ndim, params.sampling),
            args={
                "stage": stage.name,
                "model": params.model.model_dump(),
                "init_from": str(source) if source else None,
                "fingerprint": fingerprint,
                "mlflow_run_id": tracker.run_id,
            },
        )
        if resume is None:
            tracker.log_params(
                flatten(params.model_dump(exclude={"demo", "tracking", "orchestration"}))
            )
            tracker.log_params(
                {
                    "stage.name": stage.name,
                    "stage.index": index,
                    "device": device.type,
                    "world_size": ranks.world_size,
                }
            )
        result = run.run(
            on_epoch=lambda r: tracker.log_metrics(
                {k: v for k, v in r.items() if k != "epoch"}, step=r["epoch"]
            )
        )
        summary = {
            "stage": stage.name,
            **({} if fold is None else {"fold": fold}),
            "model": params.model.name,
            "device": device.type,
            "train_items": len(train_rows),
            "val_items": len(val_rows),
            "resumed": resume is not None,
            **result,
        }
        if ranks.is_main:
            atomic.write_json(stage_dir / "history.json", {"history": run.history})
            atomic.write_json(stage_dir / "summary.json", summary)
            atomic.write_json(stage_dir / "metrics.json", stage_headline(summary))
            plot_curves(
                run.history,
                stage.early_stopping.metric,
                stage_dir / "curves.png",
                f"{params.model.name}, stage {stage.name}"
                + ("" if fold is None else f", fold {fold}"),
            )
            tracker.log_artifact(stage_dir / "curves.png", "plots")
            tracker.log_artifact(stage_dir / "ckpt.pt", "checkpoints")
    return {"checkpoint": str(stage_dir / "ckpt.pt"), **summary}
