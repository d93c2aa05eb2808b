"""nnU-Net's post-processing: keep only the largest connected component of a label, where the
out-of-fold cases showed that it raises the Dice (medimg.evaluate.postprocessing decides; the
bundle carries the decision, and predict applies it exactly as evaluation did)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage


def keep_largest_component(labels: np.ndarray, label: int) -> np.ndarray:
    """``labels`` with every voxel of ``label`` outside its largest connected component (faces
    touching) set to background."""
    components, count = ndimage.label(labels == label)
    if count <= 1:
        return labels
    sizes = np.bincount(components.ravel())[1:]
    out = labels.copy()
    out[(components > 0) & (components != int(np.argmax(sizes)) + 1)] = 0
    return out


def postprocess(labels: np.ndarray, largest_component_of: Iterable[int]) -> np.ndarray:
    """A label map with :func:`keep_largest_component` applied to each label named."""
    for label in largest_component_of:
        labels = keep_largest_component(labels, int(label))
    return labels
