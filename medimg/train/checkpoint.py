"""One checkpoint definition, as torchvision's reference scripts keep it: one function builds the dict,
one saves it atomically, one loads it (``weights_only``: plain tensors and Python values, no pickled
objects), whether it is a stage's last.pt, its best.pt or its output ckpt.pt.

No RNG state is stored: the loop reseeds every epoch from (seed, epoch), which is what makes a
resumed stage draw the same batches, augmentations and dropout as an uninterrupted one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.io import atomic
from medimg.io.problems import MissingInput
from medimg.models import build_model
from medimg.models.ensemble import FoldEnsemble
from medimg.models.tta import with_tta

log = logging.getLogger(__name__)


def build_checkpoint(
    *,
    model: nn.Module,
    optimizer,
    scheduler,
    scaler,
    epoch: int,
    best: float | None,
    best_epoch: int,
    stale: int,
    history: list[dict],
    args: dict,
) -> dict[str, Any]:
    """Everything needed to resume a stage after ``epoch``, or to use its weights."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "best": best,
        "best_epoch": best_epoch,
        "stale": stale,
        "history": history,
        "args": args,
    }


def save_checkpoint(target: Path, checkpoint: dict[str, Any]) -> Path:
    return atomic.write_with(target, lambda tmp: torch.save(checkpoint, tmp), suffix=".pt")


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not Path(path).exists():
        raise MissingInput(f"{path}: checkpoint not found")
    return torch.load(path, map_location="cpu", weights_only=True)


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


def final_checkpoint(params: Params, paths: ProjectPaths) -> Path:
    """The last training stage's output: what evaluate measures and export ships."""
    return paths.stage_dir(params.train.stages[-1].name) / "ckpt.pt"


def model_from_checkpoint(params: Params, checkpoint: dict[str, Any]) -> nn.Module:
    """The model a checkpoint holds: one network, or with ``folds`` (k-fold training) the
    ensemble of the folds' networks."""
    if "folds" in checkpoint:
        members = [model_from_checkpoint(params, {"model": state}) for state in checkpoint["folds"]]
        return FoldEnsemble(members).eval()
    model = build_model(params.model)
    model.load_state_dict(checkpoint["model"])
    return model.eval()


def load_final_model(params: Params, paths: ProjectPaths) -> nn.Module:
    """The model evaluate measures and export ships: the last stage's best weights (a k-fold
    ensemble with ``folds``), each network answering with evaluate.tta's mirroring."""
    model = model_from_checkpoint(params, load_checkpoint(final_checkpoint(params, paths)))
    segmentation = CATALOG[params.model.name].task == "segmentation"
    if isinstance(model, FoldEnsemble):  # mirrored per fold: the out-of-fold answers use it too
        members = [with_tta(m, params.evaluate.tta, segmentation) for m in model.members]
        return FoldEnsemble(members).eval()
    return with_tta(model, params.evaluate.tta, segmentation)
