"""Segmentation metrics per case: overlap (Dice, IoU, precision, recall), surface distances in mm
(HD95, ASSD) and volume difference; plus the batched Dice that training validates on."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def dice_per_case(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, K-1) Dice of each foreground class per case, from integer maps (B, ...).

    A class absent from both prediction and truth scores 1 (nothing to find, nothing found).
    """
    flat_p, flat_t = predicted.flatten(1), target.flatten(1)
    scores = []
    for c in range(1, classes):
        p, t = flat_p == c, flat_t == c
        intersection = (p & t).sum(1).double()
        total = p.sum(1).double() + t.sum(1).double()
        scores.append(
            torch.where(total > 0, 2 * intersection / total.clamp(min=1), torch.ones_like(total))
        )
    return torch.stack(scores, dim=1)


def overlap_counts(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(K-1, 3) true-positive, false-positive and false-negative voxel counts per foreground class."""
    rows = []
    for c in range(1, classes):
        p, t = predicted == c, target == c
        rows.append(torch.stack([(p & t).sum(), (p & ~t).sum(), (~p & t).sum()]))
    return torch.stack(rows).double().cpu()


def pooled_dice(counts: torch.Tensor) -> float:
    """Mean over foreground classes of 2TP / (2TP + FP + FN) from summed counts (nnU-Net's pseudo Dice);
    a class absent from both prediction and reference everywhere scores 1."""
    tp, fp, fn = counts.unbind(1)
    denominator = 2 * tp + fp + fn
    return float(
        torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.ones_like(tp)).mean()
    )


def surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (SimpleITK's LabelContour, not fully connected)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def _surface_distances(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Distances in mm from each surface voxel of ``a`` to the nearest surface voxel of ``b``: the exact
    Euclidean distance transform in float64 (SimpleITK's Maurer map is float32, too coarse for 1e-9)."""
    to_b = ndimage.distance_transform_edt(~surface(b), sampling=spacing)
    return to_b[surface(a)]


def binary_dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice of one binary case by case_metrics' empty-mask convention (both empty: 1)."""
    p, t = predicted.astype(bool), truth.astype(bool)
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2 * int((p & t).sum()) / total


def case_metrics(
    predicted: np.ndarray, truth: np.ndarray, spacing: tuple[float, ...]
) -> dict[str, float | None]:
    """Overlap and surface metrics of one binary case, distances in mm, volumes in mL.

    Empty-mask convention: both empty → Dice, IoU, precision, recall 1 and distances 0; exactly
    one empty → Dice and IoU 0, the distances undefined (None, counted apart in aggregates), and
    precision (nothing predicted) or recall (nothing to find) undefined too.
    """
    p, t = predicted.astype(bool), truth.astype(bool)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
    volumes = {
        "volume_true_ml": t.sum() * voxel_ml,
        "volume_predicted_ml": p.sum() * voxel_ml,
        "volume_difference_ml": (p.sum() - t.sum()) * voxel_ml,
    }
    if not p.any() and not t.any():
        return {
            "dice": 1.0,
            "iou": 1.0,
            "precision": 1.0,
            "recall": 1.0,
            "hd95_mm": 0.0,
            "assd_mm": 0.0,
            **volumes,
        }
    out = {
        "dice": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "hd95_mm": None,
        "assd_mm": None,
        **volumes,
    }
    if p.any() and t.any():
        both = np.concatenate(
            [_surface_distances(p, t, spacing), _surface_distances(t, p, spacing)]
        )
        out["hd95_mm"] = float(np.percentile(both, 95))
        out["assd_mm"] = float(both.mean())
    return {k: (float(v) if v is not None else None) for k, v in out.items()}
