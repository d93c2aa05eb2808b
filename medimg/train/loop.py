"""The epoch loop of one training stage, resumable from its last checkpoint.

Files in ``stage_dir``: last.pt (everything needed to resume, after every epoch), best.pt (the same
dict at the best epoch so far) and, when the stage ends, ckpt.pt (the best weights: the stage's output). A killed
stage leaves last.pt and best.pt; running it again resumes from them and reaches the same weights.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from medimg.config.schema import AugmentParams, LossParams, StageParams, TrainParams
from medimg.io import atomic
from medimg.train.augment.volumes import augment_volumes
from medimg.train.batchnorm import recompute_batchnorm
from medimg.train.checkpoint import build_checkpoint, save_checkpoint
from medimg.train.device import (
    autocast,
    grad_scaler,
    model_to_device,
    peak_memory_mb,
    resolve_precision,
    to_device,
)
from medimg.train.distributed import Ranks, wrap
from medimg.train.losses import build_loss
from medimg.train.losses.deep_supervision import deep_supervised
from medimg.train.mixing import mix_batch
from medimg.train.optim import build_optimizer, build_scheduler, set_train_mode, steps_per_batch
from medimg.train.validation import BestEpoch, validate


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


@dataclass
class StageRun:
    """Everything one stage needs; ``resume_state`` is a matching last.pt, already loaded, or None."""

    model: nn.Module
    stage: StageParams
    train_params: TrainParams
    task: str
    train_loader: DataLoader
    val_loader: DataLoader
    device: torch.device
    stage_dir: Path
    seed: int
    args: dict
    num_classes: int = 2
    loss: LossParams = LossParams()
    class_weights: torch.Tensor | None = None
    augment: AugmentParams | None = None  # 3D batches are warped on the device each step
    # 3D patches: the trained size, cut from the middle of the larger patches the loader warps
    patch_size: list[int] | None = None
    resume_state: dict | None = None
    ranks: Ranks = Ranks()
    # wraps the network for validation on whole items (slice-wise or sliding-window segmentation)
    whole_items: Callable[[nn.Module], nn.Module] = lambda model: model
    history: list[dict] = field(default_factory=list)
    # k-fold: run every epoch and ship the last weights, as nnU-Net does. The fold's validation
    # cases become its out-of-fold evidence, and an epoch chosen on them would flatter it
    final_weights: bool = False

    @property
    def last_path(self) -> Path:
        return self.stage_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.stage_dir / "best.pt"

    def run(self, on_epoch: Callable[[dict], None] = lambda record: None) -> dict:
        stage, tp = self.stage, self.train_params
        channels_last = tp.channels_last and self.device.type == "cuda"
        sample = self.train_loader.dataset[0][0]
        model = model_to_device(self.model, self.device, channels_last, sample.ndim - 1)
        # segmenters (bench/bf16_cpu.py: U-Nets 1.5-2.6x faster) take bf16 on a CPU that computes
        # it natively, unless the run must be bitwise reproducible (oneDNN's bf16 kernels are not)
        segmenter = self.task == "segmentation"
        dtype = resolve_precision(
            tp.precision, self.device, cpu_bf16=segmenter and not tp.deterministic
        )
        optimizer = build_optimizer(model, stage)
        scheduler = build_scheduler(
            optimizer, stage, math.ceil(len(self.train_loader) / tp.accumulate_batches)
        )
        scaler = grad_scaler(self.device, dtype)
        deep = bool(getattr(getattr(self.model, "head", None), "aux", None))
        criterion = build_loss(self.loss, self.class_weights, deep).to(self.device)
        start, best, best_epoch, stale = 0, None, -1, 0
        if self.resume_state is not None:
            state = self.resume_state
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            start, best, best_epoch, stale = (
                state["epoch"] + 1,
                state["best"],
                state["best_epoch"],
                state["stale"],
            )
            self.history = state["history"]
        net = wrap(model, self.ranks, self.device)
        if tp.compile:
            net = torch.compile(net)
        metric = stage.early_stopping.metric
        chosen = BestEpoch(metric, stage.early_stopping.ema, best, best_epoch, stale)
        if self.history:  # resumed: the average goes on from the last epoch's
            last = self.history[-1]
            chosen.average = last.get(f"val_{metric}_ema", last.get(f"val_{metric}"))
        for epoch in range(start, stage.epochs):
            if stale >= stage.early_stopping.patience and not self.final_weights:
                break
            # reseeding per epoch makes a resumed run draw the same batches, augmentations and dropout
            epoch_seed = self.seed * 1000 + epoch
            torch.manual_seed(epoch_seed + 7919 * self.ranks.rank)
            if isinstance(self.train_loader.sampler, DistributedSampler):
                self.train_loader.sampler.set_epoch(epoch)
            elif self.train_loader.generator is not None:
                self.train_loader.generator.manual_seed(epoch_seed)
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            tic = time.perf_counter()
            rng = torch.Generator().manual_seed(epoch_seed + 7919 * self.ranks.rank)
            train_loss, samples, waited = self._train_epoch(
                net,
                model,
                optimizer,
                scheduler,
                scaler,
                criterion,
                dtype,
                channels_last,
                epoch,
                rng,
            )
            seconds = time.perf_counter() - tic
            set_train_mode(model, stage)
            recompute_batchnorm(
                model, self.train_loader, self.device, tp.bn_recompute_batches, dtype, channels_last
            )
            val = validate(
                self.whole_items(model), self.val_loader, criterion, self.device, dtype, self.task
            )
            if not steps_per_batch(scheduler) and val[metric] is not None:
                scheduler.step(val[metric])
            record = {
                "epoch": epoch,
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in val.items()},
                **{f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups},
                "epoch_seconds": seconds,
                "samples_per_second": samples * self.ranks.world_size / seconds,
                # time the training loop stood waiting for the loader: near 0 when the device is fed
                "loader_wait_fraction": waited / seconds,
                "peak_gpu_memory_mb": peak_memory_mb(self.device),
            }
            improved = chosen.update(epoch, val[metric])
            best, best_epoch, stale = chosen.best, chosen.best_epoch, chosen.stale
            if chosen.ema:
                record[f"val_{metric}_ema"] = chosen.average
            self.history.append(record)
            if self.ranks.is_main:
                checkpoint = build_checkpoint(
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    scaler=scaler,
                    epoch=epoch,
                    best=best,
                    best_epoch=best_epoch,
                    stale=stale,
                    history=self.history,
                    args=self.args,
                )
                if improved:
                    save_checkpoint(self.best_path, checkpoint)
                save_checkpoint(self.last_path, checkpoint)
                on_epoch(record)
        if self.ranks.is_main:
            # the stage's output appears only once the stage is over, so DVC never caches a half-trained one
            shipped = self.last_path if self.final_weights else self.best_path
            atomic.write_bytes(self.stage_dir / "ckpt.pt", shipped.read_bytes())
        at_best = next((r for r in self.history if r["epoch"] == best_epoch), {})
        return {
            "weights": "final epoch" if self.final_weights else "best epoch",
            "best_epoch": best_epoch,
            # the raw figure at the chosen epoch; with early_stopping.ema the average chose it
            f"best_val_{metric}": at_best.get(f"val_{metric}", best),
            **({f"best_val_{metric}_ema": best} if stage.early_stopping.ema else {}),
            "epochs_run": len(self.history),
            "precision": str(dtype).replace("torch.", "") if dtype else "fp32",
            "world_size": self.ranks.world_size,
        }

    def _train_epoch(
        self,
        net,
        model,
        optimizer,
        scheduler,
        scaler,
        criterion,
        dtype,
        channels_last: bool,
        epoch: int,
        rng: torch.Generator,
    ) -> tuple[float, int, float]:
        tp = self.train_params
        set_train_mode(model, self.stage)
        # the loss is summed on the device: a .item() per batch would make the CPU wait for the GPU
        # every step, and it could no longer queue the next batch's work while the GPU computes
        total, count, batches = torch.zeros((), device=self.device), 0, len(self.train_loader)
        optimizer.zero_grad(set_to_none=True)
        bar = tqdm(
            self.train_loader,
            desc=f"{self.stage.name} epoch {epoch + 1}/{self.stage.epochs}",
            unit="batch",
            leave=False,
            disable=not self.ranks.is_main or os.environ.get("TQDM_DISABLE") == "1",
        )
        batches_iter, waited = iter(bar), 0.0
        for step in range(batches):
            tic = time.perf_counter()
            x, y = next(batches_iter)
            waited += time.perf_counter() - tic
            x, y = to_device(x, self.device, channels_last), y.to(self.device, non_blocking=True)
            if self.augment is not None and x.ndim == 5:
                x, mask = augment_volumes(
                    x,
                    self.augment,
                    rng,
                    y if self.task == "segmentation" else None,
                    out_shape=self.patch_size,
                )
                y = mask if mask is not None else y
            target = y
            if self.task == "classification" and tp.mix.method != "none":
                x, target = mix_batch(x, y, self.num_classes, tp.mix, rng)
            boundary = (step + 1) % tp.accumulate_batches == 0 or step + 1 == batches
            # gradients are all-reduced only on the micro-batch that steps the optimizer
            sync = (
                net.no_sync()
                if self.ranks.distributed and not boundary
                else contextlib.nullcontext()
            )
            with sync:
                with autocast(self.device, dtype):
                    output = net(x)
                loss = criterion(output if deep_supervised(output) else output.float(), target)
                scaler.scale(loss / tp.accumulate_batches).backward()
            if boundary:
                if tp.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), tp.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if steps_per_batch(scheduler):
                    scheduler.step()
            total += loss.detach().float() * len(y)
            count += len(y)
        bar.close()
        return total.item() / max(count, 1), count, waited
