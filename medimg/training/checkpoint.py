"""One explicit checkpoint dict (model, optimizer, scheduler, epoch, RNG, history, args), written atomically."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medimg import atomic


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(target: Path, **content: Any) -> Path:
    return atomic.write_with(target, lambda tmp: torch.save(content, tmp), suffix=".pt")


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    # our own files only; they carry numpy RNG state, which the safe loader refuses
    return torch.load(path, map_location="cpu", weights_only=False)
