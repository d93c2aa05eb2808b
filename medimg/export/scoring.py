"""Scoring an exported ONNX model on whole items: how export grades its variants against each other
and retraining grades the challenger against the champion, with the same code on the same split."""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.deploy.runners import Runner
from medimg.deploy.sliding_window import segment_volume
from medimg.metrics.classification import (
    CLINICAL_METRICS,
    binary_metrics,
    multiclass_metrics,
)
from medimg.metrics.probabilities import softmax
from medimg.metrics.segmentation import case_metrics, dice_per_case
from medimg.models.ensemble import FoldEnsemble
from medimg.train.checkpoint import load_final_model
from medimg.train.datasets import read_split, task_dataset, training_samples


def gate_split(params: Params) -> str:
    """The split the gate judges variants on, sets each variant's threshold on and checks parity
    on: val with one model; with k-fold training there is no val split, and every non-test item
    (train) serves, the cases the ensemble's own cut was carried to by quantile."""
    return "val" if params.split.folds == 1 else "train"


def deployed_model(params: Params, paths: ProjectPaths) -> nn.Module:
    """The model export ships: the final checkpoint as evaluate measured it, a fold ensemble with
    the member temperatures evaluate fitted (reports/evaluation.json) inside its graph."""
    model = load_final_model(params, paths)
    if isinstance(model, FoldEnsemble):
        temperatures = member_temperatures(paths)
        if temperatures is not None:
            model.set_temperatures(temperatures)
    return model


def member_temperatures(paths: ProjectPaths) -> list[float] | None:
    """The fold ensemble's member temperatures the evaluate step fitted, or None (not fitted)."""
    report_path = paths.reports / "evaluation.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return report.get("calibration", {}).get("member_temperatures")


def model_inputs(params: Params, paths: ProjectPaths, split: str, count: int) -> torch.Tensor:
    """Up to ``count`` inputs shaped as the network takes them (whole items, slices or patches),
    spread evenly over ``split``: parity and INT8 calibration data."""
    info = CATALOG[params.model.name]
    torch.manual_seed(0)  # patches are drawn at random
    dataset, _ = training_samples(
        info.task, info.ndim, read_split(paths.index, split), paths.processed, params.sampling
    )
    picks = np.unique(np.linspace(0, len(dataset) - 1, count).astype(int))
    return torch.stack([dataset[int(i)][0] for i in picks])


def run_on_items(
    run: Runner, images: np.ndarray, task: str, model_ndim: int, params: Params, batch: int = 8
) -> np.ndarray:
    """Logits of whole items through an exported model's runner, slice- or window-wise as
    evaluation does."""
    patches = params.sampling.patches
    outputs = [
        segment_volume(run, images[i : i + batch], model_ndim, patches.size, patches.overlap)
        if task == "segmentation"
        else run(images[i : i + batch])
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(outputs)


def load_split(
    params: Params, paths: ProjectPaths, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """A whole split as arrays: images (items as the evaluate step sees them) and targets."""
    test = task_dataset(
        CATALOG[params.model.name].task, read_split(paths.index, split), paths.processed
    )
    return (
        np.stack([test[i][0].numpy() for i in range(len(test))]),
        np.stack([np.asarray(test[i][1]) for i in range(len(test))]),
    )


def operating_point(paths: ProjectPaths) -> tuple[float, float]:
    """The positive-class threshold the evaluate step chose on validation and the temperature it
    fitted there (0.5 and 1.0 before it ran, or where they do not apply): the scores that threshold
    applies to are softmax(logits, temperature)."""
    report_path = paths.reports / "evaluation.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    threshold = report.get("operating_point", {}).get("threshold", 0.5)
    return threshold, report.get("calibration", {}).get("temperature", 1.0)


def score_session(
    run: Runner,
    params: Params,
    images: np.ndarray,
    targets: np.ndarray,
    threshold: float,
    temperature: float = 1.0,
) -> tuple[str, dict]:
    """An ONNX model's key metric name and clinical figures on ``images``: how export grades its
    variants and retraining grades champion against challenger."""
    info = CATALOG[params.model.name]
    logits = run_on_items(run, images, info.task, info.ndim, params)
    return variant_metrics(
        info.task, params.model.num_classes, targets, logits, threshold, temperature
    )


def median_hd95(predicted: np.ndarray, targets: np.ndarray, classes: int) -> float | None:
    """Median HD95, in voxels of the model's grid, over the (case, class) pairs whose reference has
    the structure; a pair the model leaves empty counts as the case's diagonal, the worst distance."""
    values = []
    for prediction, truth in zip(predicted, targets):
        for c in range(1, classes):
            if not (truth == c).any():
                continue
            hd95 = case_metrics(prediction == c, truth == c, (1.0,) * truth.ndim)["hd95_mm"]
            values.append(float(np.linalg.norm(truth.shape)) if hd95 is None else hd95)
    return float(np.median(values)) if values else None


def variant_metrics(
    task: str,
    classes: int,
    targets: np.ndarray,
    logits: np.ndarray,
    threshold: float,
    temperature: float = 1.0,
) -> tuple[str, dict]:
    """The key figure a variant must keep (AUC, quadratic kappa, or Dice over the cases that have the
    structure) and the clinical metrics the evaluate step reports, at the same operating threshold,
    on the probabilities softmax(logits, temperature) that the bundle reports."""
    if task == "segmentation":
        truth = torch.from_numpy(targets)
        dice = dice_per_case(torch.from_numpy(logits.argmax(1)), truth, classes)
        present = torch.stack([(truth.flatten(1) == c).any(1) for c in range(1, classes)], dim=1)
        figures = {
            "dice": float(dice.mean()),
            "dice_present": float(dice[present].mean()) if present.any() else None,
            "hd95_voxels": median_hd95(logits.argmax(1), targets, classes),
        }
        # the gate reads Dice over the cases with the structure: empty cases' free 1s hide a worse model
        return ("dice_present" if present.any() else "dice"), figures
    probs = softmax(logits, temperature)
    if classes == 2:
        figures = binary_metrics(targets, probs[:, 1], threshold)
        return "auc", {k: v for k, v in figures.items() if k in CLINICAL_METRICS}
    return "quadratic_kappa", {
        k: v for k, v in multiclass_metrics(targets, probs).items() if k in CLINICAL_METRICS
    }
