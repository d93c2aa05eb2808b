"""Which class of CPU runs an INT8 model, and whether an INT8 format is safe on it.

onnxruntime's x86 INT8 kernels multiply unsigned 8-bit activations by signed 8-bit weights (U8S8).
Without VNNI they use VPMADDUBSW, which adds two such products into a signed 16-bit lane and
saturates when both are large (255 × 127 × 2 > 32767), so a model validated on an AVX512-VNNI CPU can
give other answers on an AVX2-only one. VNNI (VPDPBUSD) and ARM's dot products accumulate in 32 bits
and never saturate. Quantizing weights to 7 bits (onnxruntime's ``reduce_range``) keeps every pair
below the limit on every CPU, at the price of one bit of weight precision.
"""

from __future__ import annotations

import platform
from pathlib import Path

# target → the CPU classes whose INT8 kernels give the validated answers for that format
SAFE_ON = {
    "avx2": ("avx2", "vnni", "arm64"),  # 7-bit weights: no pair can saturate a 16-bit lane
    "vnni": ("vnni", "arm64"),  # full 8-bit weights: saturates on AVX2 without VNNI
    "arm64": ("arm64", "vnni"),
}
INT8_TARGETS = ("auto", *SAFE_ON)


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux: flags unknown, and the class falls back to what is safe
        return []


def cpu_flags(lines: list[str] | None = None) -> set[str]:
    """The instruction-set flags the kernel reports (x86 ``flags``, ARM ``Features``)."""
    for line in _cpuinfo_lines() if lines is None else lines:
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_class(flags: set[str] | None = None, machine: str | None = None) -> str:
    """'vnni', 'avx2', 'arm64' or 'other': the class that decides how INT8 arithmetic behaves."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if flags & {"avx512_vnni", "avx_vnni", "avx512vnni"}:
        return "vnni"
    return "avx2" if "avx2" in flags else "other"


def resolve_int8_target(target: str, here: str | None = None) -> str:
    """``auto`` becomes this machine's class (AVX2's safe format where the class is unknown)."""
    if target != "auto":
        return target
    here = here or cpu_class()
    return here if here in SAFE_ON else "avx2"


def cpu_description() -> dict:
    """What the INT8 figures were measured on: the CPU class, model name and the relevant flags."""
    lines = _cpuinfo_lines()
    flags = cpu_flags(lines)
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    relevant = sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16"})
    return {"cpu_class": cpu_class(flags), "model": model, "flags": relevant}


def int8_warning(target: str, validated_on: str, here: str | None = None) -> str | None:
    """Why an INT8 variant quantized for ``target`` and gated on a ``validated_on`` CPU may not
    behave as validated here; None when this is the class it was validated on."""
    here = here or cpu_class()
    if here == validated_on:
        return None
    if here not in SAFE_ON.get(target, ()):
        return (
            f"this INT8 variant was quantized for {target} CPUs and validated on a {validated_on} "
            f"CPU; this {here} CPU can saturate its 8-bit products, so its scores may differ. "
            "Re-export with export.int8_target: avx2, or use the fp32 variant"
        )
    return (
        f"this INT8 variant was validated on a {validated_on} CPU, not on this {here} one; its "
        "format is safe here, but its scores were not checked on this CPU class"
    )
