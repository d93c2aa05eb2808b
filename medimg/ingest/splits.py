"""Patient-level train/val/test splits, stratified by label, fixed by seed, stable as data grows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def patient_rank(patient_key: str, seed: int) -> float:
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
        order = sorted(group["patient_key"], key=lambda k: patient_rank(k, seed))
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


def ratios_beside_official_test(ratios: dict[str, float], official_test: bool) -> dict[str, float]:
    """The ratios the unassigned patients are split at. With an official test split (imagesTs, or
    test rows in labels.csv) that split alone is the test set: the rest is split into train and val
    only, val keeping its share of the non-test items, so no training case is lost to a second test
    set and the reported test figures follow the dataset's own protocol."""
    if not official_test:
        return dict(ratios)
    kept = ratios["train"] + ratios["val"]
    return {"train": ratios["train"] / kept, "val": ratios["val"] / kept, "test": 0.0}


def pooled_for_folds(ratios: dict[str, float], folds: int) -> dict[str, float]:
    """With k-fold cross-validation every non-test patient trains, and validates in its fold."""
    if folds < 2:
        return dict(ratios)
    return {"train": ratios["train"] + ratios["val"], "val": 0.0, "test": ratios["test"]}


def split_protocol(
    split: pd.Series, split_source: pd.Series, ratios: dict[str, float], folds: int = 1
) -> dict:
    """Which protocol made the test split, as the summary and the model card state it: the
    dataset's official test split (with its size), or assignment by patient at ``ratios``; and
    how the rest is split (train and val, or ``folds`` cross-validation folds)."""
    official_test = int(((split == "test") & (split_source == "labels.csv")).sum())
    folded = f"{folds} cross-validation folds by patient"
    if official_test:
        used = ratios_beside_official_test(ratios, True)
        rest = (
            f"split by patient into train {used['train']:.2f} and val {used['val']:.2f}"
            if folds < 2
            else f"in {folded}"
        )
        return {
            "test": "official",
            "test_items": official_test,
            "folds": folds,
            "rest": {k: round(used[k], 4) for k in ("train", "val")},
            "text": f"official test split ({official_test} cases); the other items {rest}",
        }
    text = (
        "assigned by patient (fractions " + ", ".join(f"{k} {ratios[k]:g}" for k in SPLITS) + ")"
        if folds < 2
        else f"assigned by patient (test {ratios['test']:g}; the rest in {folded})"
    )
    return {
        "test": "assigned",
        "test_items": int((split == "test").sum()),
        "folds": folds,
        "rest": {k: ratios[k] for k in SPLITS},
        "text": text,
    }


def ignored_test_ratio_warning(ratios: dict[str, float], official_test_items: int) -> str | None:
    """The warning to log when split.ratios.test is set but an official test split makes it moot."""
    if not official_test_items or not ratios["test"]:
        return None
    return (
        f"split.ratios.test={ratios['test']:g} is ignored: {official_test_items} item(s) carry an "
        "official test split (imagesTs or labels.csv), which alone is the test set; the other items "
        "are split into train and val only"
    )


def assign_splits(
    rows: pd.DataFrame,
    given: dict[str, str],
    ratios: dict[str, float],
    seed: int,
    earlier: dict[str, str] | None = None,
    folds: int = 1,
) -> pd.DataFrame:
    """Columns ``split`` and ``split_source`` for ``rows`` (``patient_key``, ``label``; unlabelled
    rows get no split). Patients in ``given`` keep their official split; the others are split by
    patient, stratified, at ``ratios`` — train and val only when an official test split exists.
    An ``earlier`` assignment is kept unless it names a split the ratios no longer fill. With
    ``folds`` > 1 there is no val split: the folds (medimg.ingest.folds) validate in turn."""
    used = ratios_beside_official_test(pooled_for_folds(ratios, folds), "test" in given.values())
    kept = {k: v for k, v in (earlier or {}).items() if used.get(v, 0) > 0}
    if kept and used["val"] > 0 and "val" not in kept.values():
        # back from k-fold (no val split then): the non-test patients are cut into train and val again
        kept = {k: v for k, v in kept.items() if v == "test"}
    split = split_by_patient(rows, used, seed, {**kept, **given}).astype(object)
    official = rows["patient_key"].isin(given)
    split = split.where(~official, rows["patient_key"].map(given))
    source = np.where(official, "labels.csv", np.where(split.notna(), "assigned", None))
    return pd.DataFrame({"split": split, "split_source": source}, index=rows.index)
