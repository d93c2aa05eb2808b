"""Predictions over a loader and the per-epoch validation metrics that early stopping reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medimg.metrics.classification import auc_score, quadratic_kappa
from medimg.metrics.segmentation import overlap_counts, pooled_dice
from medimg.train.device import autocast, to_device

HIGHER_IS_BETTER = {"auc": True, "kappa": True, "accuracy": True, "dice": True, "loss": False}


@torch.no_grad()
def predict_scores(
    model: nn.Module, loader: DataLoader, device: torch.device, dtype: torch.dtype | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, class probabilities) over a classification loader, in loader order."""
    model.eval()
    labels, probs = [], []
    for x, y in loader:
        with autocast(device, dtype):
            logits = model(to_device(x, device, False))
        probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(labels), np.concatenate(probs)


@torch.no_grad()
def validate(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    device: torch.device,
    dtype: torch.dtype | None,
    task: str,
) -> dict[str, float | None]:
    """loss plus auc, kappa and accuracy (classification) or foreground Dice pooled over all voxels of
    the split (segmentation: empty cases add their false positives and no free 1s)."""
    model.eval()
    loss_sum, count, labels, probs, overlap = 0.0, 0, [], [], None
    for x, y in loader:
        x, y = to_device(x, device, False), y.to(device, non_blocking=True)
        with autocast(device, dtype):
            logits = model(x).float()
        loss_sum += criterion(logits, y).item() * len(y)
        count += len(y)
        if task == "segmentation":
            counts = overlap_counts(logits.argmax(1), y, logits.shape[1])
            overlap = counts if overlap is None else overlap + counts
        else:
            probs.append(torch.softmax(logits, dim=1).cpu().numpy())
            labels.append(y.cpu().numpy())
    metrics: dict[str, float | None] = {"loss": loss_sum / max(count, 1)}
    if task == "segmentation":
        metrics["dice"] = pooled_dice(overlap)
        return metrics
    y_true, p = np.concatenate(labels), np.concatenate(probs)
    predicted = p.argmax(1)
    metrics.update(
        accuracy=float((predicted == y_true).mean()),
        auc=auc_score(y_true, p),
        kappa=quadratic_kappa(y_true, predicted),
    )
    return metrics


def is_better(metric: str, value: float | None, best: float | None) -> bool:
    if best is None:
        return value is not None
    if value is None:
        return False
    return value > best if HIGHER_IS_BETTER[metric] else value < best


def smoothed(previous: float | None, value: float | None, weight: float) -> float | None:
    """One step of an exponential moving average of a validation metric: ``weight`` on the average
    so far, the first value as it is, and an epoch without the metric (AUC on one class) leaves
    the average unchanged. ``weight`` 0 returns the value itself."""
    if value is None or previous is None:
        return previous if value is None else value
    return weight * previous + (1.0 - weight) * value


@dataclass
class BestEpoch:
    """Which epoch's weights a stage keeps, and how long it has gone without a better one: the
    early-stopping metric, smoothed by an exponential moving average with weight ``ema``."""

    metric: str
    ema: float = 0.0
    best: float | None = None
    best_epoch: int = -1
    stale: int = 0
    average: float | None = None

    def update(self, epoch: int, value: float | None) -> bool:
        """Take one epoch's validation figure; True when this epoch is the new best."""
        self.average = smoothed(self.average, value, self.ema)
        improved = is_better(self.metric, self.average, self.best) or self.best_epoch < 0
        if improved:
            self.best, self.best_epoch, self.stale = self.average, epoch, 0
        else:
            self.stale += 1
        return improved
