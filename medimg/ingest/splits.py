"""Patient-level train/val/test splits, stratified by label, fixed by seed, stable as data grows."""

from __future__ import annotations

import hashlib

import pandas as pd

SPLITS = ("train", "val", "test")


def _patient_rank(patient_key: str, seed: int) -> float:
    """A stable pseudo-random number per patient: adding patients does not reorder existing ones."""
    digest = hashlib.sha256(f"{seed}:{patient_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _cut(order: list, ratios: dict[str, float]) -> dict:
    """Cut an ordered list of patients at the cumulative ratios."""
    result, position, start = {}, 0, 0.0
    for name in SPLITS:
        start += ratios[name]
        end = round(start * len(order))
        result.update({key: name for key in order[position:end]})
        position = end
    return result


def _fill(new: list, kept: dict, ratios: dict[str, float]) -> dict:
    """Give each new patient (in rank order) to the split furthest below its share of the stratum."""
    counts = {name: sum(1 for s in kept.values() if s == name) for name in SPLITS}
    total = len(kept)
    result = {}
    for key in new:
        total += 1
        name = max(SPLITS, key=lambda n: (ratios[n] * total - counts[n], -SPLITS.index(n)))
        counts[name] += 1
        result[key] = name
    return result


def assign_patient_splits(
    patients: pd.DataFrame,
    ratios: dict[str, float],
    seed: int,
    earlier: dict[str, str] | None = None,
) -> pd.Series:
    """Split patients (columns ``patient_key``, ``stratum``) so no patient spans two splits.

    Within each stratum patients are ordered by a seeded hash of their key. Without ``earlier``
    assignments they are cut at the cumulative ratios; with them, every patient keeps the split it
    had and only new patients are placed, each where its stratum is furthest below its ratio.
    """
    earlier = {k: v for k, v in (earlier or {}).items() if v in SPLITS}
    mapping: dict[str, str] = {}
    for _, group in patients.groupby("stratum", dropna=False, sort=True):
        order = sorted(group["patient_key"], key=lambda k: _patient_rank(k, seed))
        kept = {k: earlier[k] for k in order if k in earlier}
        if kept:
            mapping.update(kept)
            mapping.update(_fill([k for k in order if k not in kept], kept, ratios))
        else:
            mapping.update(_cut(order, ratios))
    return patients["patient_key"].map(mapping)


def split_by_patient(
    rows: pd.DataFrame, ratios: dict[str, float], seed: int, earlier: dict[str, str] | None = None
) -> pd.Series:
    """Split column for ``rows`` (``patient_key``, ``label``): a patient is stratified by its max label."""
    labelled = rows.dropna(subset=["label"])
    patients = (
        labelled.groupby("patient_key", sort=True)["label"].max().rename("stratum").reset_index()
    )
    patients["split"] = assign_patient_splits(patients, ratios, seed, earlier).to_numpy()
    mapping = dict(zip(patients["patient_key"], patients["split"]))
    return rows["patient_key"].map(mapping)
