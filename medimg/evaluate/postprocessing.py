"""Whether to keep only the largest component of each label, decided on out-of-fold cases.

nnU-Net's rule (``determine_postprocessing``): a label is post-processed when doing so raises its
mean Dice over the cases the models did not train on; the decision is then applied to test cases
and by ``medimg predict``. Each fold's model answers the cases of its own validation part, so the
evidence is every non-test case once, as the cross-validation table counts them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medimg.deploy.postprocess import keep_largest_component
from medimg.io.problems import MissingInput
from medimg.metrics.segmentation import binary_dice


def choose_largest_component(
    truths: list[np.ndarray], predictions: list[np.ndarray], classes: int
) -> dict:
    """{largest_component: [labels kept to their largest component], per_label: {label: mean
    Dice as predicted and post-processed, cases}} over the given out-of-fold cases."""
    chosen, per_label = [], {}
    for label in range(1, classes):
        raw = [binary_dice(p == label, t == label) for p, t in zip(predictions, truths)]
        kept = [
            binary_dice(keep_largest_component(p, label) == label, t == label)
            for p, t in zip(predictions, truths)
        ]
        before, after = float(np.mean(raw)), float(np.mean(kept))
        per_label[str(label)] = {
            "dice": round(before, 4),
            "dice_largest_component": round(after, 4),
        }
        if after > before:
            chosen.append(label)
    return {"largest_component": chosen, "per_label": per_label, "cases": len(truths)}


NOT_SEGMENTATION = {"largest_component": [], "why": "not a segmenter: nothing to post-process"}


def read_largest_component(path: Path) -> list[int]:
    """The labels evaluate decided to keep to their largest component (reports/postprocessing.json)."""
    if not path.exists():
        raise MissingInput(f"{path}: no post-processing decision; run the evaluate step first")
    return [int(label) for label in json.loads(path.read_text())["largest_component"]]
