"""How many cases a decision rests on: the operating point, the temperature and the export gate are
all chosen on one split, and a figure chosen on five positive cases moves by 0.2 per case. Reports
state these counts beside every such choice, so a reader can weigh it."""

from __future__ import annotations

import numpy as np

# below this many cases of the class a decision turns on, reports say how coarse it is
FEW_CASES = 20


def decision_basis(targets: np.ndarray, task: str) -> dict:
    """Counts behind a decision made on ``targets``: class labels (N,) for a classifier, with
    ``positives`` and ``negatives`` for a binary one; label maps (N, ...) for a segmenter, with the
    cases whose map has foreground. ``note`` says how coarse the decision is, or is None."""
    basis = _counts(np.asarray(targets), task)
    return {**basis, "note": coarseness_note(basis)}


def _counts(targets: np.ndarray, task: str) -> dict:
    if task == "segmentation":
        flat = targets.reshape(len(targets), -1)
        return {"cases": int(len(targets)), "with_foreground": int((flat > 0).any(axis=1).sum())}
    labels = targets.astype(int)
    counts = np.bincount(labels, minlength=2) if len(labels) else np.zeros(2, int)
    basis = {"cases": int(len(labels)), "per_class": {str(k): int(v) for k, v in enumerate(counts)}}
    if len(counts) == 2:
        basis.update(positives=int(counts[1]), negatives=int(counts[0]))
    return basis


def coarseness_note(basis: dict) -> str | None:
    """One sentence when the decision rests on fewer than ``FEW_CASES`` of the cases it turns on:
    how far one case moves the figure it was chosen by. None when there are enough."""
    if "with_foreground" in basis:
        few, what = basis["with_foreground"], "case(s) with foreground"
    elif "positives" in basis:
        few = min(basis["positives"], basis["negatives"])
        what = "positive" if basis["positives"] <= basis["negatives"] else "negative"
        what += " case(s)"
    else:
        few, what = min(basis["per_class"].values()), "case(s) of its rarest class"
    if few >= FEW_CASES:
        return None
    if few == 0:
        return f"no {what.replace('(s)', '')}: the choice is not informed by that class"
    return (
        f"only {few} {what}: one case moves the figure it was chosen by by "
        f"{1 / few:.2f}; read it as coarse"
    )
