"""One training stage, fold by fold: stage N starts from stage N-1's best checkpoint.

With ``split.folds`` > 1 the stage trains one model per fold (fold k's stage N starts from fold k's
stage N-1), and its ckpt.pt holds the folds' ensemble. Run it again after a kill and each fold
resumes from its last.pt, provided params, data, initial weights and code are unchanged; a fold
already trained ends at once. Under ``torchrun`` the same function trains data-parallel.
"""

from __future__ import annotations

import contextlib
import functools
import sys

from torch.utils.data import RandomSampler

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params, ParamsError
from medimg.io import atomic
from medimg.io.fan_out import MapItems
from medimg.models import build_model
from medimg.models.whole_volume import whole_item_model
from medimg.tracking.runs import (
    Tracker,
    absolute_store,
    flatten,
    open_store,
    pipeline_key,
    tracking_run,
)
from medimg.train.checkpoint import load_resume_state, save_checkpoint
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
from medimg.train.setup import (
    check_items_fit,
    initial_weights,
    load_initial_weights,
    stage_fingerprint,
    stage_headline,
)


def train_stage(
    params: Params,
    paths: ProjectPaths,
    stage_name: str,
    code_digest: str,
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
        return train_one(params, paths, stage_name, code_digest, fresh)
    todo = list(range(folds)) if fold is None else [fold]
    # the folds may train in other processes (Dask workers): give them the parent run's key and an
    # absolute store, and make both here first so their concurrent first writes do not race
    key = pipeline_key(params, paths.index)
    params = params.model_copy(update={"tracking": absolute_store(params.tracking, paths.root)})
    open_store(params.tracking, key)
    one_fold = functools.partial(
        train_one, params, paths, stage_name, code_digest, fresh, parent_key=key
    )
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
    code_digest: str,
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
    reason = nothing_to_train(stage, index, params.model)
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
    fingerprint = stage_fingerprint(params, index, paths, source, device, ranks, fold, code_digest)
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
        if isinstance(sampler, RandomSampler):
            sampler = None  # a budgeted epoch of pictures: each rank then takes its shard once
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
            final_weights=fold is not None,
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
