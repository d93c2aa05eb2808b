"""Where and in what precision training runs: CUDA with mixed precision when there is one, CPU otherwise."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from medimg.io.problems import InputError


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device is cuda but no CUDA device is available (use auto or cpu)")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where bf16 autocast
    is faster than fp32 rather than emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(
    choice: str, device: torch.device, cpu_bf16: bool = False
) -> torch.dtype | None:
    """The autocast dtype, or None for full fp32. auto: bf16 on GPUs that support it (no grad scaler
    needed), else fp16 with a scaler; on a CPU fp32, or bf16 with ``cpu_bf16`` (segmenters not
    bound to bitwise reproducibility: bench/bf16_cpu.py measured the 3D U-Net 1.5-2.6x faster, the
    2D one on photos likewise) where the CPU computes it natively."""
    if choice == "auto" and device.type != "cuda":
        return torch.bfloat16 if cpu_bf16 and cpu_has_native_bf16() else None
    if choice == "fp32":
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
