"""k-fold cross-validation folds by patient, stratified, written once to data/interim/splits.json
(as nnU-Net keeps splits_final.json) so a rerun never reshuffles them.

Every patient outside the test split belongs to exactly one fold; fold k's model trains on the
other folds and validates on fold k. With one fold the file records the single train/val split.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from medimg.ingest.splits import patient_rank
from medimg.io import atomic
from medimg.io.problems import InputError

SPLITS_FILE = "splits.json"


class FoldError(InputError):
    """The data cannot be cut into the folds params.yaml asks for; the message says why."""


def assign_folds(
    patients: pd.DataFrame, folds: int, seed: int, earlier: dict[str, int] | None = None
) -> pd.Series:
    """Fold of each patient (columns ``patient_key``, ``stratum``). Within a stratum patients are
    ordered by a seeded hash and dealt round the folds, each stratum starting where the last one
    stopped, so every fold gets its share of each label. A patient in ``earlier`` keeps its fold;
    a new one joins the fold with fewest patients of its stratum (then fewest overall)."""
    earlier = {k: v for k, v in (earlier or {}).items() if 0 <= v < folds}
    mapping: dict[str, int] = {}
    totals = [0] * folds
    for key, fold in earlier.items():
        if key in set(patients["patient_key"]):
            totals[fold] += 1
    offset = 0
    for _, group in patients.groupby("stratum", dropna=False, sort=True):
        order = sorted(group["patient_key"], key=lambda k: patient_rank(k, seed))
        kept = {k: earlier[k] for k in order if k in earlier}
        mapping.update(kept)
        counts = [sum(1 for f in kept.values() if f == i) for i in range(folds)]
        for position, key in enumerate(k for k in order if k not in kept):
            if kept:
                fold = min(range(folds), key=lambda i: (counts[i], totals[i], i))
            else:
                fold = (offset + position) % folds
            counts[fold] += 1
            totals[fold] += 1
            mapping[key] = fold
        offset += len(order)
    return patients["patient_key"].map(mapping)


def check_folds(patients: pd.DataFrame, folds: int) -> None:
    """Refuse folds that cannot be trained and judged: fewer patients than folds, or a fold whose
    validation part has no positive case (columns ``patient_key``, ``stratum``, ``fold``)."""
    if len(patients) < folds:
        raise FoldError(
            f"split.folds: {folds} needs at least {folds} labelled patients outside the test "
            f"split; the data has {len(patients)}. Use split.folds: {max(len(patients), 1)} or fewer"
            if len(patients) > 1
            else f"split.folds: {folds} needs at least {folds} labelled patients outside the test "
            f"split; the data has {len(patients)}"
        )
    positive = patients["stratum"].fillna(0) > 0
    if folds > 1 and positive.any():
        empty = sorted(set(range(folds)) - set(patients.loc[positive, "fold"]))
        if empty:
            raise FoldError(
                f"split.folds: {folds}, but fold(s) {empty} would validate on no positive case: "
                f"only {int(positive.sum())} patient(s) outside the test split have one. Use "
                f"split.folds: {max(int(positive.sum()), 1)} or fewer, or split.folds: 1"
            )


def fold_table(patients: pd.DataFrame, folds: int, seed: int) -> dict:
    """splits.json's content: per fold the patient keys it trains and validates on (pseudonyms,
    never identifiers), and how many patients and positive ones it validates on."""
    table = []
    for k in range(folds):
        val = patients[patients["fold"] == k]
        train = patients[patients["fold"] != k]
        table.append(
            {
                "fold": k,
                "train": sorted(train["patient_key"]),
                "val": sorted(val["patient_key"]),
                "val_patients": len(val),
                "val_positive_patients": int((val["stratum"].fillna(0) > 0).sum()),
            }
        )
    return {"folds": folds, "seed": seed, "splits": table}


def single_split_table(patients: pd.DataFrame, seed: int) -> dict:
    """splits.json for ``split.folds: 1``: the one train/val split (column ``split``) as fold 0."""
    return fold_table(patients.assign(fold=(patients["split"] != "val").astype(int)), 1, seed)


def read_folds(path: Path) -> dict[str, int]:
    """Patient → fold from an existing splits.json, or {} when there is none."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text())
    if document.get("folds", 1) < 2:
        return {}
    return {key: entry["fold"] for entry in document["splits"] for key in entry["val"]}


def fold_pool(rows: pd.DataFrame) -> pd.DataFrame:
    """The patients the folds are cut from: those with a labelled, usable item outside the test
    split (``rows``: manifest rows), one row each, stratified by their highest label."""
    usable = rows[(rows["status"] == "ok") & rows["label"].notna() & rows["split"].notna()]
    usable = usable[usable["split"] != "test"]
    return (
        usable.groupby("patient_key", sort=True)
        .agg(stratum=("label", "max"), split=("split", "first"))
        .reset_index()
    )


def write_folds(patients: pd.DataFrame, folds: int, seed: int, interim: Path) -> dict:
    """Assign (or keep) the folds of ``patients`` (``patient_key``, ``stratum``, ``split``: the
    non-test ones), check them and write interim/splits.json; returns its content."""
    target = interim / SPLITS_FILE
    if folds == 1:
        table = single_split_table(patients, seed)
    else:
        pool = patients.assign(fold=assign_folds(patients, folds, seed, read_folds(target)))
        check_folds(pool, folds)
        table = fold_table(pool, folds, seed)
    atomic.write_json(target, table, unless_equal=True)
    return table
