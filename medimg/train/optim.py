"""What a stage trains and how fast: frozen groups, per-group learning rates, optimizer, schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from medimg.config.catalog import CATALOG
from medimg.config.schema import ModelParams, StageParams
from medimg.config.training import trained_groups

# nnU-Net's polynomial decay (Isensee et al. 2021), lr = lr0 * (1 - step / total) ** 0.9
POLY_EXPONENT = 0.9


def _trained(model: nn.Module, stage: StageParams) -> set[str]:
    return set(trained_groups([name for name, _ in model.backbone_groups()], stage.trainable))


def apply_trainable(model: nn.Module, stage: StageParams) -> None:
    """Freeze the backbone groups the stage does not train; the head always trains."""
    trained = _trained(model, stage)
    for name, part in model.backbone_groups():
        part.requires_grad_(name in trained)
    model.head.requires_grad_(True)


def set_train_mode(model: nn.Module, stage: StageParams) -> None:
    """Train mode, except frozen groups: their BatchNorm statistics must not drift either."""
    model.train()
    trained = _trained(model, stage)
    for name, part in model.backbone_groups():
        if name not in trained:
            part.eval()


def group_learning_rates(model: nn.Module, stage: StageParams) -> dict[str, float]:
    """Learning rate per trained backbone group, from ``lr_groups`` or lr_backbone × layer_decay^depth
    (depth 0 next to the head), as in the seeds' layer-wise table."""
    names = [name for name, _ in model.backbone_groups() if name in _trained(model, stage)]
    rates = {}
    for depth, name in enumerate(reversed(names)):
        rates[name] = stage.lr_groups.get(name) or stage.lr_backbone * stage.layer_decay**depth
    return rates


def param_groups(model: nn.Module, stage: StageParams) -> list[dict]:
    groups = [{"name": "head", "params": list(model.head.parameters()), "lr": stage.lr_head}]
    parts = dict(model.backbone_groups())
    for name, lr in group_learning_rates(model, stage).items():
        groups.append({"name": name, "params": list(parts[name].parameters()), "lr": lr})
    return groups


def build_optimizer(model: nn.Module, stage: StageParams) -> torch.optim.Optimizer:
    groups = param_groups(model, stage)
    if stage.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            momentum=stage.momentum,
            nesterov=stage.momentum > 0,
            weight_decay=stage.weight_decay,
        )
    if stage.optimizer == "adam":
        return torch.optim.Adam(groups, weight_decay=stage.weight_decay)
    return torch.optim.AdamW(groups, weight_decay=stage.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageParams, steps_per_epoch: int):
    """cosine/poly/constant: a per-step LambdaLR with linear warm-up; plateau: ReduceLROnPlateau on the
    early-stopping metric, stepped once per epoch (see ``steps_per_batch``)."""
    if stage.schedule == "plateau":
        higher = stage.early_stopping.metric != "loss"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max" if higher else "min",
            factor=stage.plateau_factor,
            patience=stage.plateau_patience,
        )
    warmup = stage.warmup_epochs * steps_per_epoch
    total = max(stage.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if stage.schedule == "constant":
            return 1.0
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        if stage.schedule == "poly":
            return (1.0 - progress) ** POLY_EXPONENT
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def steps_per_batch(scheduler) -> bool:
    return not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def nothing_to_train(stage: StageParams, stage_index: int, model: ModelParams) -> str | None:
    """Why a stage would train nothing of use, or None: a first stage that freezes the backbone of
    a segmenter with no pretrained weights (``model.init: none``: nnU-Net's U-Nets, or a DeepLabV3
    offline) would fit a decoder to random features: there is nothing to freeze."""
    if stage.trainable != "head" or stage_index > 0 or model.init != "none":
        return None
    if CATALOG[model.name].task != "segmentation":
        return None  # a classifier's head on random features is the seed's demo recipe
    source = (
        "a U-Net trains from scratch"
        if model.name.startswith("unet")
        else "no ImageNet weights; model.init: imagenet loads cached ones"
    )
    return (
        f"stage {stage.name} trains only the decoder on a frozen encoder, but the encoder of "
        f"{model.name} is random (model.init: none: {source}), so there is nothing to freeze; "
        "the stage passes the initial weights on untouched"
    )
