"""What a stage trains and how fast: frozen parts, per-group learning rates, warm-up + cosine."""

from __future__ import annotations

import math

import torch
from torch import nn

from medimg.params import StageParams


def apply_trainable(model: nn.Module, stage: StageParams) -> None:
    """Freeze the backbone for ``trainable: head``; a frozen backbone also keeps its BN statistics."""
    for _, part in model.backbone_groups():
        part.requires_grad_(stage.trainable == "all")
    model.head.requires_grad_(True)


def set_train_mode(model: nn.Module, stage: StageParams) -> None:
    model.train()
    if stage.trainable == "head":
        for _, part in model.backbone_groups():
            part.eval()


def param_groups(model: nn.Module, stage: StageParams) -> list[dict]:
    """Head at ``lr_head``; backbone groups at ``lr_backbone`` × layer_decay^(distance from the head)."""
    groups = [{"name": "head", "params": list(model.head.parameters()), "lr": stage.lr_head}]
    if stage.trainable == "all":
        backbone = model.backbone_groups()
        for depth, (name, part) in enumerate(reversed(backbone)):
            lr = stage.lr_backbone * stage.layer_decay**depth
            groups.append({"name": name, "params": list(part.parameters()), "lr": lr})
    return groups


def build_optimizer(model: nn.Module, stage: StageParams) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, stage), weight_decay=stage.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageParams, steps_per_epoch: int):
    """Linear warm-up for ``warmup_epochs``, then cosine decay to zero, stepped every batch."""
    warmup = stage.warmup_epochs * steps_per_epoch
    total = max(stage.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
