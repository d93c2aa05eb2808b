"""Where and in what precision training runs: CUDA with mixed precision when there is one, CPU otherwise."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from medimg.io.problems import InputError


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device is cuda but no CUDA device is available (use auto or cpu)")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def resolve_precision(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full fp32. auto: bf16 on GPUs that support it (no grad scaler
    needed), else fp16 with a scaler; CPU stays fp32, where autocast is slower, not faster."""
    if choice == "fp32" or (choice == "auto" and device.type != "cuda"):
        return None
    if choice == "fp16" and device.type != "cuda":
        raise InputError("train.precision fp16 needs a CUDA device (use auto, bf16 or fp32 on CPU)")
    if choice == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if choice == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """fp16 gradients underflow without loss scaling; bf16 and fp32 have fp32's range and need none."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def memory_format(ndim: int) -> torch.memory_format:
    return torch.channels_last_3d if ndim == 5 else torch.channels_last


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim in (4, 5) and x.is_floating_point():
        x = x.contiguous(memory_format=memory_format(x.ndim))
    return x


def model_to_device(
    model: nn.Module, device: torch.device, channels_last: bool, ndim: int
) -> nn.Module:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=memory_format(ndim + 2))
    return model


def peak_memory_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
