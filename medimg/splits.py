"""Patient-level train/val/test splits, stratified by label and fixed by seed."""

from __future__ import annotations

import hashlib

import pandas as pd

SPLITS = ("train", "val", "test")


def _patient_rank(patient_key: str, seed: int) -> float:
    """A stable pseudo-random number per patient: adding patients does not move existing ones."""
    digest = hashlib.sha256(f"{seed}:{patient_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_patient_splits(patients: pd.DataFrame, ratios: dict[str, float], seed: int) -> pd.Series:
    """Split patients (columns ``patient_key``, ``stratum``) so no patient spans two splits.

    Within each stratum patients are ordered by a seeded hash of their key and cut at the
    cumulative ratios, so each split gets its share of every label and the cut is reproducible.
    """
    result = pd.Series(index=patients.index, dtype="object")
    for _, group in patients.groupby("stratum", dropna=False, sort=True):
        order = group["patient_key"].map(lambda k: _patient_rank(k, seed)).sort_values().index
        n = len(order)
        bounds, start = [], 0.0
        for name in SPLITS:
            start += ratios[name]
            bounds.append((name, round(start * n)))
        position = 0
        for name, end in bounds:
            result.loc[order[position:end]] = name
            position = end
    return result


def split_by_patient(rows: pd.DataFrame, ratios: dict[str, float], seed: int) -> pd.Series:
    """Split column for ``rows`` (``patient_key``, ``label``): a patient is stratified by max label."""
    labelled = rows.dropna(subset=["label"])
    patients = labelled.groupby("patient_key", sort=True)["label"].max().rename("stratum").reset_index()
    patients["split"] = assign_patient_splits(patients, ratios, seed)
    mapping = dict(zip(patients["patient_key"], patients["split"]))
    return rows["patient_key"].map(mapping)
