"""A compute budget the plan keeps: how many batches an epoch of a U-Net has, and for pictures at
what pixel size it trains.

On a GPU, nnU-Net's 250 batches per epoch at the planned size. On a CPU, what fits the minutes per
fold the user states (plan.cpu_minutes_per_fold): the planned network, at its planned patch and
batch and the precision it will train in, is timed for a few optimizer steps on this machine, and
the epochs the last stage runs share what the budget leaves after validation, up to nnU-Net's 250
batches each. Where that leaves a fold fewer than MIN_STEPS steps:

- a picture segmenter (nnU-Net's 2D configuration plans the whole photo, 768 x 560 for a
  dermoscopy) trains on the picture shrunk (coarser pixels, 1.25x, 1.5x, 2x, ...) until it does
  not, but never below MIN_PICTURE_SIDE pixels on its shorter side;
- then, where params.yaml leaves the width to the plan, the U-Net's width is halved (down to 8):
  more steps of a narrower network.
"""

from __future__ import annotations

import math
import time

import torch

from medimg.config.schema import Params
from medimg.models import build_model
from medimg.plan.planner import BASE_WIDTH, feature_map_voxels
from medimg.train.augment.pictures import augment_picture, picture_augmentation
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
# a picture is shrunk by these factors, finest first, while MIN_STEPS do not fit the minutes
PICTURE_SCALES = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
MIN_PICTURE_SIDE = 128


def _augmenter(params: Params, patch: list[int]):
    """(the shape the loader reads, what augments a batch of it) as training does: volumes warped
    batched from a larger patch, pictures one by one with albumentations at their size."""
    augment = params.augment if params.augment.enabled else None
    if augment is None:
        return list(patch), lambda x, y, generator: (x, y)
    if len(patch) == 3:
        return enlarged_patch(patch, augment), lambda x, y, generator: augment_volumes(
            x, augment, generator, y, out_shape=patch
        )
    pipeline = picture_augmentation(augment, colour=params.model.in_channels == 3)

    def pictures(x, y, generator):
        seeds = torch.randint(2**31 - 1, (len(x),), generator=generator).tolist()
        pairs = [augment_picture(pipeline, i.numpy(), m.numpy(), s) for i, m, s in zip(x, y, seeds)]
        return (
            torch.stack([torch.from_numpy(i) for i, _ in pairs]),
            torch.stack([torch.from_numpy(m.astype("int64")) for _, m in pairs]),
        )

    return list(patch), pictures


def seconds_per_batch(params: Params, patch: list[int], batch: int, device: torch.device) -> float:
    """Median seconds of one training step of ``params.model`` on ``batch`` patches of ``patch``:
    the augmentation as training runs it, forward, backward and SGD step, in the precision
    training will use; times LOADING_OVERHEAD for reading and saving."""
    torch.manual_seed(0)
    model = build_model(params.model).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    criterion = build_loss(params.loss, deep_supervision=params.model.deep_supervision)
    dtype = resolve_precision(
        params.train.precision, device, cpu_bf16=not params.train.deterministic
    )
    loaded, augment = _augmenter(params, patch)
    x = torch.rand(batch, params.model.in_channels, *loaded)
    y = torch.randint(params.model.num_classes, (batch, *loaded))
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(4):  # the first warms up the kernels
        tic = time.perf_counter()
        inputs, target = augment(x, y, generator)
        inputs, target = inputs.to(device), target.to(device)
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
    if len(plan["patch_size"]) == 2:  # a picture is resized to the patch: one window
        windows = 1
    else:
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


def _with_width(params: Params, plan: dict, width: int) -> Params:
    """``params`` with the planned U-Net's topology at ``width``."""
    model = params.model.model_copy(
        update={
            "width": width,
            "pool_strides": plan["pool_strides"],
            "conv_kernels": plan.get("conv_kernels"),
        }
    )
    return params.model_copy(update={"model": model})


def _timed(params: Params, plan: dict, width: int, val_cases: float, device) -> dict:
    """One candidate's figures: seconds per batch and validating, the batches that fit."""
    step = seconds_per_batch(
        _with_width(params, plan, width), plan["patch_size"], plan["batch_size"], device
    )
    validating = validation_seconds(plan, step, val_cases, params.sampling.patches.overlap)
    batches, fitting = epoch_batches(
        step, validating, params.plan.cpu_minutes_per_fold, params.train.stages[-1].epochs
    )
    return {"step": step, "validating": validating, "batches": batches, "fitting": fitting}


def _work(plan: dict, width: int) -> float:
    """A batch's cost in nnU-Net's memory proxy (feature-map voxels x batch): what a step's time
    grows with, to rank candidates before timing them."""
    return (
        feature_map_voxels(plan["patch_size"], plan["pool_strides"], 2, width) * plan["batch_size"]
    )


def _finest_fitting(params, candidates, width, val_cases, device) -> tuple[float, dict, dict]:
    """(scale, plan, figures) of the finest candidate whose steps fit MIN_STEPS, else the
    coarsest: the coarsest is timed, the others' steps predicted from it by :func:`_work` and only
    a candidate predicted to fit is timed (a full-size photo step can take a minute here)."""
    epochs = params.train.stages[-1].epochs
    coarse_scale, coarse_plan = candidates[-1]
    coarse = _timed(params, coarse_plan, width, val_cases, device)
    per_work = coarse["step"] / _work(coarse_plan, width)
    for scale, plan in candidates[:-1]:
        step = per_work * _work(plan, width)
        validating = validation_seconds(plan, step, val_cases, params.sampling.patches.overlap)
        predicted = epoch_batches(step, validating, params.plan.cpu_minutes_per_fold, epochs)[1]
        if predicted * epochs < MIN_STEPS:
            continue
        figures = _timed(params, plan, width, val_cases, device)
        if figures["fitting"] * epochs >= MIN_STEPS:
            return scale, plan, figures
    return coarse_scale, coarse_plan, coarse


def picture_scales(plan: dict, replan) -> list[tuple[float, dict]]:
    """(scale, plan) for each of PICTURE_SCALES whose patch keeps MIN_PICTURE_SIDE pixels (the
    plan as given always)."""
    candidates = [(1.0, plan)]
    for scale in PICTURE_SCALES[1:]:
        coarser = replan(scale)
        if min(coarser["patch_size"]) < MIN_PICTURE_SIDE:
            break
        candidates.append((scale, coarser))
    return candidates


def fit_budget(
    params: Params, plan: dict, cases: int, width_pinned: bool = True, replan=None
) -> dict:
    """The plan's training budget for ``cases`` training and validation cases: batches per
    epoch, the U-Net's width unless ``width_pinned`` (params.yaml sets it), for pictures (given
    ``replan(scale)``, the plan at pixels ``scale`` times coarser) the ``pixel_scale`` and its
    ``patch_size`` and ``batch_size``, and what it expects a fold to take."""
    device = pick_device(params.train.device)
    epochs = params.train.stages[-1].epochs
    if device.type == "cuda":
        return {
            "device": "cuda",
            "width": params.model.width if width_pinned else BASE_WIDTH,
            "batches_per_epoch": NNUNET_BATCHES_PER_EPOCH,
            "epochs": epochs,
            "rule": "nnU-Net's 250 batches per epoch (its 1000 epochs: set the last stage's epochs)",
        }
    pictures = replan is not None and len(plan["patch_size"]) == 2
    candidates = picture_scales(plan, replan) if pictures else [(1.0, plan)]
    val_cases = cases / max(params.split.folds, 2)  # one train/val split validates on ~a fifth
    minutes = params.plan.cpu_minutes_per_fold
    width = params.model.width if width_pinned else BASE_WIDTH
    while True:
        scale, chosen, figures = _finest_fitting(params, candidates, width, val_cases, device)
        # narrower only where time, not the 250-batch cap, is what holds the steps down
        if width_pinned or figures["fitting"] * epochs >= MIN_STEPS or width // 2 < MIN_WIDTH:
            break
        width //= 2
    step, validating, batches = figures["step"], figures["validating"], figures["batches"]
    shrunk = f"; pictures {scale:g}x coarser ({chosen['patch_size']})" if pictures else ""
    return {
        "device": "cpu",
        "width": width,
        **(
            {
                "pixel_scale": scale,
                "patch_size": chosen["patch_size"],
                "batch_size": chosen["batch_size"],
            }
            if pictures
            else {}
        ),
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
        )
        + shrunk,
    }
