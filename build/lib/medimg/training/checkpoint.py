"""One explicit checkpoint dict (model, optimizer, scheduler, epoch, RNG, history, args), written atomically."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medimg import atomic

log = logging.getLogger(__name__)


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


def load_resume_state(last_path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The stage's last.pt if it was written with the same settings and data; None means start afresh
    (no last.pt, or one left by other params, data or initial weights)."""
    if not last_path.exists():
        return None
    try:
        state = load_checkpoint(last_path)
    except Exception as exc:  # a torn or foreign file must not block training: it is rebuilt
        log.warning("%s is unreadable (%s); starting the stage afresh", last_path, exc)
        return None
    if state.get("args", {}).get("fingerprint") != fingerprint:
        log.info("%s was written with other settings or data; starting the stage afresh", last_path)
        return None
    return state
