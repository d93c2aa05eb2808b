"""Step 3: train one stage (freeze, unfreeze, ...); stage N starts from stage N-1's best checkpoint."""

from __future__ import annotations

from pathlib import Path

from medimg import atomic
from medimg.datasets import CachedClassificationDataset, class_weights, make_loader, read_split
from medimg.layout import ProjectPaths
from medimg.models import build_model
from medimg.params import Params
from medimg.tracking import flatten, tracking_run
from medimg.training.checkpoint import load_checkpoint
from medimg.training.loop import StageRun, pick_device, seed_everything
from medimg.training.optim import apply_trainable


def initial_weights(params: Params, paths: ProjectPaths, stage_index: int) -> Path | None:
    if stage_index > 0:
        return paths.stage_dir(params.train.stages[stage_index - 1].name) / "ckpt.pt"
    return None if params.model.init == "none" else paths.root / params.model.init


def loader(dataset, params: Params, train: bool, seed: int):
    return make_loader(dataset, params.train.batch_size, params.train.num_workers, seed, train,
                       weighted=train and params.train.sampler == "weighted")


def run_train(params: Params, paths: ProjectPaths, stage_name: str, resume: bool = False) -> dict:
    """Train ``stage_name``; writes models/<stage>/ckpt.pt (best), last.pt and history.json."""
    index, stage = params.train.stage(stage_name)
    seed = params.train.seed + index
    seed_everything(seed, params.train.deterministic)
    device = pick_device(params.train.device)
    train_rows, val_rows = read_split(paths.index, "train"), read_split(paths.index, "val")
    model = build_model(params.model)
    source = initial_weights(params, paths, index)
    if source is not None:
        model.load_state_dict(load_checkpoint(source)["model"])
    apply_trainable(model, stage)
    weights = class_weights(train_rows["label"].astype(int).to_numpy(), params.model.num_classes,
                            params.loss.class_weights, params.loss.effective_beta)
    stage_dir = paths.stage_dir(stage.name)
    stage_dir.mkdir(parents=True, exist_ok=True)
    run = StageRun(
        model=model, stage=stage,
        train_loader=loader(CachedClassificationDataset(train_rows, paths.processed, params.augment), params, True, seed),
        val_loader=loader(CachedClassificationDataset(val_rows, paths.processed), params, False, seed),
        augment=params.augment if params.augment.enabled else None, loss=params.loss,
        class_weights=weights, device=device, stage_dir=stage_dir, seed=seed, grad_clip=params.train.grad_clip,
        args={"stage": stage.name, "model": params.model.model_dump(), "init_from": str(source) if source else None},
    )
    with tracking_run(params.tracking, f"train-{stage.name}", {"step": "train", "stage": stage.name}) as tracker:
        tracker.log_params(flatten({"model": params.model.model_dump(), "stage": stage.model_dump(),
                                    "train.batch_size": params.train.batch_size, "train.seed": params.train.seed}))
        result = run.run(resume, on_epoch=lambda r: tracker.log_metrics(
            {k: v for k, v in r.items() if k != "epoch"}, step=r["epoch"]))
        atomic.write_json(stage_dir / "history.json", {"history": run.history})
        summary = {"stage": stage.name, "device": device.type, "train_items": len(train_rows),
                   "val_items": len(val_rows), **result}
        atomic.write_json(stage_dir / "summary.json", summary)
        tracker.log_artifact(stage_dir / "ckpt.pt", "checkpoints")
    return {"checkpoint": str(stage_dir / "ckpt.pt"), **summary}
