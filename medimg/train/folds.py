"""A stage trained fold by fold: its folds' best weights become one ensemble checkpoint, and their
summaries one cross-validation summary (what DVC tracks as the stage's outputs)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from medimg.io import atomic
from medimg.train.checkpoint import load_checkpoint, save_checkpoint


def folds_trained(fold_dirs: list[Path]) -> bool:
    return all((d / "ckpt.pt").exists() and (d / "summary.json").exists() for d in fold_dirs)


def cross_validation_summary(summaries: list[dict], metric: str) -> dict:
    """Per fold: its best epoch and figure, epochs and items; over the folds: the figure's mean and
    sample standard deviation (nnU-Net's CV summary) and the items every fold validated on."""
    key = f"best_val_{metric}"
    values = [s[key] for s in summaries if s.get(key) is not None]
    return {
        "folds": len(summaries),
        f"{key}_mean": statistics.fmean(values) if values else None,
        f"{key}_sd": statistics.stdev(values) if len(values) > 1 else None,
        "per_fold": [
            {
                "fold": k,
                **{
                    f: s.get(f)
                    for f in ("best_epoch", key, "epochs_run", "train_items", "val_items")
                },
            }
            for k, s in enumerate(summaries)
        ],
        # out-of-fold: each non-test item is validated on exactly once
        "val_items": sum(s["val_items"] for s in summaries),
    }


def combine_folds(stage_dir: Path, fold_dirs: list[Path], metric: str, base: dict) -> dict:
    """Write the stage's ckpt.pt (every fold's best weights, which medimg.train.checkpoint loads as
    a FoldEnsemble), summary.json, history.json (each epoch row tagged with its fold) and return
    the summary; ``base`` adds the stage's own fields (stage, model, device)."""
    summaries = [json.loads((d / "summary.json").read_text()) for d in fold_dirs]
    states = [load_checkpoint(d / "ckpt.pt")["model"] for d in fold_dirs]
    save_checkpoint(stage_dir / "ckpt.pt", {"folds": states, "args": {"folds": len(fold_dirs)}})
    history = [
        {**row, "fold": k}
        for k, d in enumerate(fold_dirs)
        for row in json.loads((d / "history.json").read_text())["history"]
    ]
    atomic.write_json(stage_dir / "history.json", {"history": history})
    summary = {**base, **cross_validation_summary(summaries, metric)}
    atomic.write_json(stage_dir / "summary.json", summary)
    return summary


def untrained_summary(stage: str, metric: str, reason: str) -> dict:
    """The summary of a stage that passed its initial weights on without training (``reason``)."""
    return {
        "stage": stage,
        "trained": False,
        "reason": reason,
        "best_epoch": None,
        f"best_val_{metric}": None,
        "epochs_run": 0,
    }
