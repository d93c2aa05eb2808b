"""Class probabilities from logits: the one softmax that training's reports, the export gate and
predict all use, so a calibrated probability means the same number everywhere. Numpy only."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) over the last axis of (N, K) logits, computed stably."""
    scaled = np.asarray(logits, dtype=float) / temperature
    shifted = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
