"""The trained model's answers on one split, as the evaluate step scores them."""

from __future__ import annotations

import pandas as pd
import torch

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.models.whole_volume import whole_item_model
from medimg.train.checkpoint import load_final_model
from medimg.train.datasets import (
    CachedClassificationDataset,
    CachedSegmentationDataset,
    loader_workers,
    make_loader,
    read_split,
)
from medimg.train.device import pick_device
from medimg.train.validation import predict_scores


def final_model_on_split(params: Params, paths: ProjectPaths):
    """(the final stage's best model on its device, the evaluated split's index rows, the device)."""
    device = pick_device(params.train.device)
    model = load_final_model(params, paths).to(device)
    return model, read_split(paths.index, params.evaluate.split), device


def _loader(dataset, params: Params, device):
    workers = loader_workers(params.train.num_workers, device)
    return make_loader(dataset, params.train.batch_size, workers, 0, train=False)


def predict_probabilities(
    model, rows: pd.DataFrame, params: Params, paths: ProjectPaths, device
) -> dict:
    """{labels (N,), probs (N, K) uncalibrated, patients (N,)} of ``rows``' cached tensors."""
    dataset = CachedClassificationDataset(rows, paths.processed)
    labels, probs = predict_scores(model, _loader(dataset, params, device), device)
    return {
        "labels": labels.astype(int),
        "probs": probs.astype(float),
        "patients": rows["patient_key"].to_numpy(),
    }


@torch.no_grad()
def predict_masks(model, rows: pd.DataFrame, params: Params, paths: ProjectPaths, device):
    """(images, reference masks, predicted label maps) of ``rows``, each item whole: 3D models
    by sliding window as deployment runs them."""
    dataset = CachedSegmentationDataset(rows, paths.processed)
    info = CATALOG[params.model.name]
    whole = whole_item_model(model, info.task, info.ndim, params.sampling)
    images, truths, predictions = [], [], []
    for x, y in _loader(dataset, params, device):
        predictions += list(whole(x.to(device)).argmax(1).cpu().numpy())
        truths += list(y.numpy())
        images += list(x[:, 0].numpy())
    return images, truths, predictions
