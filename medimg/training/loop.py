"""The epoch loop of one training stage, resumable from its last checkpoint."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from medimg.augment.volumes import augment_volumes
from medimg.metrics.classification import safe_auc
from medimg.losses import build_loss
from medimg.params import AugmentParams, LossParams, StageParams
from medimg.training.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from medimg.training.optim import build_optimizer, build_scheduler, set_train_mode

HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "loss": False}


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is cuda but no CUDA device is available (use auto or cpu)")
    return torch.device("cuda" if choice in ("auto", "cuda") and torch.cuda.is_available() else "cpu")


def autocast(device: torch.device):
    """bf16 mixed precision on CUDA (no grad scaler needed); full precision on CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def predict_scores(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(labels, class probabilities) over a loader, in loader order."""
    model.eval()
    labels, probs = [], []
    for x, y in loader:
        with autocast(device):
            logits = model(x.to(device, non_blocking=True))
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(labels), np.concatenate(probs)


def validation_metrics(labels: np.ndarray, probs: np.ndarray, class_weights: torch.Tensor) -> dict[str, float | None]:
    logits = torch.log(torch.from_numpy(probs).clamp_min(1e-7))
    loss = nn.functional.nll_loss(logits, torch.from_numpy(labels).long(), weight=class_weights).item()
    return {"loss": loss, "accuracy": float((probs.argmax(1) == labels).mean()),
            "auc": safe_auc(labels, probs[:, 1]) if probs.shape[1] == 2 else None}


@dataclass
class StageRun:
    """Everything one stage needs; ``stage_dir`` receives ckpt.pt (best), last.pt and history."""

    model: nn.Module
    stage: StageParams
    train_loader: DataLoader
    val_loader: DataLoader
    class_weights: torch.Tensor
    device: torch.device
    stage_dir: Path
    seed: int
    grad_clip: float
    args: dict
    augment: AugmentParams | None = None  # 3D batches are warped on the device each step
    loss: LossParams = LossParams()
    history: list[dict] = field(default_factory=list)

    def _is_better(self, value: float | None, best: float | None) -> bool:
        if best is None:
            return True
        if value is None:
            return False
        return value > best if HIGHER_IS_BETTER[self.stage.early_stopping.metric] else value < best

    def run(self, resume: bool, on_epoch=lambda record: None) -> dict:
        model, stage = self.model.to(self.device), self.stage
        optimizer = build_optimizer(model, stage)
        scheduler = build_scheduler(optimizer, stage, len(self.train_loader))
        criterion = build_loss(self.loss, self.class_weights).to(self.device)
        start, best, best_epoch, stale = 0, None, -1, 0
        last_path, best_path = self.stage_dir / "last.pt", self.stage_dir / "ckpt.pt"
        if resume and last_path.exists():
            state = load_checkpoint(last_path)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            restore_rng(state["rng"])
            start, best, best_epoch, stale = state["epoch"] + 1, state["best"], state["best_epoch"], state["stale"]
            self.history = state["history"]
        metric = stage.early_stopping.metric
        for epoch in range(start, stage.epochs):
            if stale >= stage.early_stopping.patience:
                break
            # reseeding per epoch makes a resumed run draw the same batches, augmentations and dropout
            torch.manual_seed(self.seed * 1000 + epoch)
            if self.train_loader.generator is not None:
                self.train_loader.generator.manual_seed(self.seed * 1000 + epoch)
            tic = time.perf_counter()
            augment_rng = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            train_loss = self._train_epoch(model, optimizer, scheduler, criterion, epoch, augment_rng)
            seconds = time.perf_counter() - tic
            labels, probs = predict_scores(model, self.val_loader, self.device)
            val = validation_metrics(labels, probs, self.class_weights)
            record = {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()},
                      "lr_head": optimizer.param_groups[0]["lr"], "epoch_seconds": seconds,
                      "samples_per_second": len(self.train_loader.dataset) / seconds}
            self.history.append(record)
            if self._is_better(val[metric], best) or best_epoch < 0:
                best, best_epoch, stale = val[metric], epoch, 0
                save_checkpoint(best_path, model=model.state_dict(), epoch=epoch, metric=metric, value=best,
                                args=self.args)
            else:
                stale += 1
            save_checkpoint(last_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), epoch=epoch, best=best, best_epoch=best_epoch,
                            stale=stale, history=self.history, rng=rng_state(), args=self.args)
            on_epoch(record)
        return {"best_epoch": best_epoch, f"best_val_{metric}": best, "epochs_run": len(self.history)}

    def _train_epoch(self, model, optimizer, scheduler, criterion, epoch: int, augment_rng: torch.Generator) -> float:
        set_train_mode(model, self.stage)
        total, count = 0.0, 0
        bar = tqdm(self.train_loader, desc=f"{self.stage.name} epoch {epoch + 1}/{self.stage.epochs}", unit="batch",
                   leave=False)
        for x, y in bar:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if self.augment is not None and x.ndim == 5:
                x, _ = augment_volumes(x, self.augment, augment_rng)
            with autocast(self.device):
                loss = criterion(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(y)
            count += len(y)
            bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)
