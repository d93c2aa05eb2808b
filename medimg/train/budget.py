"""A compute budget the plan keeps: how many batches an epoch of a 3D U-Net has.

On a GPU, nnU-Net's 250 batches per epoch. On a CPU, what fits the minutes per fold the user
states (plan.cpu_minutes_per_fold): the planned network, at its planned patch and batch and the
precision it will train in, is timed for a few optimizer steps on this machine, and the epochs the
last stage runs share what the budget leaves after validation, up to nnU-Net's 250 batches each. Where that leaves a fold fewer
than MIN_STEPS steps, and params.yaml leaves the width to the plan, the U-Net's width is halved
(down to 8) until it does not: more steps of a narrower network.
"""

from __future__ import annotations

import math
import time

import torch

from medimg.config.schema import Params
from medimg.models import build_model
from medimg.plan.planner import BASE_WIDTH
from medimg.train.augment.volumes import augment_volumes, enlarged_patch
from medimg.train.device import autocast, pick_device, resolve_precision
from medimg.train.losses import build_loss

NNUNET_BATCHES_PER_EPOCH = 250
# fewer optimizer steps than this per fold and a narrower U-Net trains better in the same minutes
MIN_STEPS = 1000
MIN_WIDTH = 8
# a forward pass costs about a third of a training step (forward, backward, update)
FORWARD_SHARE = 1 / 3
# reading patches and writing last.pt each epoch: about 10% on top of the timed steps (on
# Hippocampus the timed steps alone promised 0.54 s a batch and training took 0.75 s)
LOADING_OVERHEAD = 1.1


def seconds_per_batch(params: Params, patch: list[int], batch: int, device: torch.device) -> float:
    """Median seconds of one training step of ``params.model`` on ``batch`` patches of ``patch``:
    the augmentation's warp of the larger patches the loader reads, forward, backward and SGD
    step, in the precision training will use; times LOADING_OVERHEAD for reading and saving."""
    torch.manual_seed(0)
    model = build_model(params.model).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    criterion = build_loss(params.loss, deep_supervision=params.model.deep_supervision)
    dtype = resolve_precision(
        params.train.precision, device, cpu_bf16=not params.train.deterministic
    )
    augment = params.augment if params.augment.enabled else None
    loaded = enlarged_patch(patch, augment) if augment else list(patch)
    x = torch.randn(batch, params.model.in_channels, *loaded, device=device)
    y = torch.randint(params.model.num_classes, (batch, *loaded), device=device)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(4):  # the first warms up the kernels
        tic = time.perf_counter()
        inputs, target = (
            augment_volumes(x, augment, generator, y, out_shape=patch) if augment else (x, y)
        )
        with autocast(device, dtype):
            loss = criterion(model(inputs), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - tic)
    return sorted(times[1:])[1] * LOADING_OVERHEAD


def validation_seconds(plan: dict, step: float, val_cases: float, overlap: float) -> float:
    """What validating ``val_cases`` whole cases costs once: windows per case (at the 90th
    percentile shape) x one forward of a patch, estimated from the timed training step."""
    windows = math.prod(
        1 if s <= p else math.ceil((s - p) / (p * (1 - overlap))) + 1
        for s, p in zip(plan["p90_shape_at_target_spacing"], plan["patch_size"])
    )
    return val_cases * windows * step * FORWARD_SHARE / plan["batch_size"]


def epoch_batches(step: float, validating: float, minutes: float, epochs: int) -> tuple[int, int]:
    """(batches per epoch, the batches the time alone would allow): what ``minutes`` leave after
    ``epochs`` validations of ``validating`` seconds, in steps of ``step`` seconds; at least 1,
    and never longer epochs than nnU-Net's (a small dataset on a fast CPU ends early instead)."""
    fitting = math.floor((minutes * 60 - epochs * validating) / (step * epochs))
    return max(1, min(NNUNET_BATCHES_PER_EPOCH, fitting)), fitting


def fit_budget(params: Params, plan: dict, cases: int, width_pinned: bool = True) -> dict:
    """The plan's training budget for ``cases`` training and validation cases: batches per
    epoch, the U-Net's width unless ``width_pinned`` (params.yaml sets it), and what it expects a
    fold to take."""
    device = pick_device(params.train.device)
    epochs = params.train.stages[-1].epochs
    patch, batch = plan["patch_size"], plan["batch_size"]
    if device.type == "cuda":
        return {
            "device": "cuda",
            "width": params.model.width if width_pinned else BASE_WIDTH,
            "batches_per_epoch": NNUNET_BATCHES_PER_EPOCH,
            "epochs": epochs,
            "rule": "nnU-Net's 250 batches per epoch (its 1000 epochs: set the last stage's epochs)",
        }
    val_cases = cases / max(params.split.folds, 2)  # one train/val split validates on ~a fifth
    minutes = params.plan.cpu_minutes_per_fold
    width = params.model.width if width_pinned else BASE_WIDTH
    while True:
        model = params.model.model_copy(
            update={
                "width": width,
                "pool_strides": plan["pool_strides"],
                "conv_kernels": plan.get("conv_kernels"),
            }
        )
        step = seconds_per_batch(params.model_copy(update={"model": model}), patch, batch, device)
        validating = validation_seconds(plan, step, val_cases, params.sampling.patches.overlap)
        batches, fitting = epoch_batches(step, validating, minutes, epochs)
        # narrower only where time, not the 250-batch cap, is what holds the steps down
        if width_pinned or fitting * epochs >= MIN_STEPS or width // 2 < MIN_WIDTH:
            break
        width //= 2
    return {
        "device": "cpu",
        "width": width,
        "seconds_per_batch": round(step, 4),
        "validation_seconds_per_epoch": round(validating, 1),
        "batches_per_epoch": batches,
        "epochs": epochs,
        "optimizer_steps": batches * epochs,
        "expected_minutes_per_fold": round(epochs * (batches * step + validating) / 60, 1),
        "cpu_minutes_per_fold": minutes,
        "rule": f"({minutes:g} min per fold - {epochs} epochs x {validating:.0f} s validating) / "
        f"({step:.2f} s per batch x {epochs} epochs); width {width}"
        + (
            " (params.yaml's)"
            if width_pinned
            else f" (halved from 32 while under {MIN_STEPS} steps)"
        ),
    }
