"""Figures of one evaluation beside the metrics: training curves, Grad-CAM of the most confident
positives, and the empty plot files dvc.yaml declares for plots that do not apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.evaluate import figures
from medimg.evaluate.gradcam import grad_cam, hottest_slice
from medimg.io import atomic
from medimg.train.curves import plot_curves
from medimg.train.datasets import CachedClassificationDataset


def training_figures(params: Params, paths: ProjectPaths) -> list[str]:
    """One loss/metric curve per training stage that left a history; the file names written."""
    written = []
    for stage in params.train.stages:
        history = paths.stage_dir(stage.name) / "history.json"
        if history.exists():
            target = paths.reports / "figures" / f"training_{stage.name}.png"
            plot_curves(
                json.loads(history.read_text())["history"],
                stage.early_stopping.metric,
                target,
                f"{params.model.name}, stage {stage.name}",
            )
            written.append(target.name)
    return written


def explain_positives(model, rows, evaluated: dict, threshold: float, params, paths) -> list[str]:
    """Grad-CAM figures of the most confident true and false positives; the file names written."""
    scores, labels = evaluated["probs"][:, 1], evaluated["labels"]
    dataset = CachedClassificationDataset(rows, paths.processed)
    written = []
    for kind, wanted in (("true_positive", 1), ("false_positive", 0)):
        chosen = np.where((labels == wanted) & (scores >= threshold))[0]
        for rank, i in enumerate(
            chosen[np.argsort(-scores[chosen])][: params.evaluate.explain_cases], start=1
        ):
            image = dataset[int(i)][0]
            heat = grad_cam(model.cpu(), image, 1)
            grey, hot = hottest_slice(image.numpy(), heat)
            name = f"gradcam_{kind}_{rank}.png"
            figures.overlay_figure(
                grey,
                hot,
                f"Grad-CAM, {kind.replace('_', ' ')} {rank} (score {scores[i]:.2f})",
                paths.reports / "figures" / name,
            )
            written.append(name)
    return written


def write_empty_plots(folder: Path, names) -> None:
    """dvc.yaml declares every plot file; those that do not apply (binary curves for a multi-class or
    segmentation model) are written empty rather than missing, which would fail the stage."""
    for name in names:
        atomic.write_json(folder / f"{name}.json", {name: []})
