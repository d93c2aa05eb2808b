"""k-fold cross-validation folds: by patient, stratified, written once and never reshuffled."""

import json

import numpy as np
import pandas as pd
import pytest

from medimg.ingest.folds import FoldError, assign_folds, check_folds, fold_pool, write_folds


def patients(n: int, positive_every: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_key": [f"pa{i:04d}" for i in range(n)],
            "stratum": [int(i % positive_every == 0) for i in range(n)],
            "split": "train",
        }
    )


def test_every_patient_is_in_one_fold_and_each_fold_gets_its_share_of_each_label():
    pool = patients(103)
    pool["fold"] = assign_folds(pool, 5, seed=1)
    assert pool["fold"].notna().all() and set(pool["fold"]) == set(range(5))
    sizes = pool["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 1
    positives = pool[pool["stratum"] == 1]["fold"].value_counts()
    assert positives.max() - positives.min() <= 1


def test_folds_are_fixed_by_seed_and_new_patients_never_move_old_ones():
    first = patients(60)
    folds = dict(zip(first["patient_key"], assign_folds(first, 5, seed=2)))
    assert folds == dict(zip(first["patient_key"], assign_folds(first, 5, seed=2)))
    grown = patients(75)
    again = dict(zip(grown["patient_key"], assign_folds(grown, 5, seed=2, earlier=folds)))
    assert all(again[k] == v for k, v in folds.items())
    sizes = pd.Series(again).value_counts()
    assert sizes.max() - sizes.min() <= 1  # the 15 new ones filled the folds evenly


def test_too_few_patients_or_positives_for_the_folds_is_a_clear_error():
    few = patients(3).assign(fold=[0, 1, 2])
    with pytest.raises(
        FoldError, match=r"split.folds: 5 needs at least 5 labelled patients.*has 3"
    ):
        check_folds(few, 5)
    rare = patients(40, positive_every=20)  # two positive patients for five folds
    rare["fold"] = assign_folds(rare, 5, seed=0)
    with pytest.raises(FoldError, match=r"fold\(s\) \[.*\] would validate on no positive case"):
        check_folds(rare, 5)


def test_splits_json_is_written_once_and_a_rerun_keeps_it(tmp_path):
    pool = patients(30)
    first = write_folds(pool, 3, 0, tmp_path)
    written = (tmp_path / "splits.json").read_text()
    assert json.loads(written) == first and first["folds"] == 3
    for entry in first["splits"]:
        assert not set(entry["train"]) & set(entry["val"])
        assert len(entry["train"]) + len(entry["val"]) == 30
    stamp = (tmp_path / "splits.json").stat().st_mtime_ns
    assert write_folds(pool.sample(frac=1, random_state=0), 3, 0, tmp_path) == first
    assert (tmp_path / "splits.json").stat().st_mtime_ns == stamp  # unchanged content, no write


def test_one_fold_records_the_train_val_split(tmp_path):
    pool = patients(10).assign(split=["val"] * 2 + ["train"] * 8)
    table = write_folds(pool, 1, 0, tmp_path)
    assert table["folds"] == 1 and table["splits"][0]["val"] == ["pa0000", "pa0001"]
    assert len(table["splits"][0]["train"]) == 8


def test_the_pool_is_the_labelled_usable_non_test_patients_by_their_highest_label():
    rows = pd.DataFrame(
        {
            "patient_key": ["a", "a", "b", "c", "d"],
            "label": [0, 1, 0, np.nan, 1],
            "status": ["ok", "ok", "ok", "ok", "quarantined"],
            "split": ["train", "train", "test", None, "train"],
        }
    )
    pool = fold_pool(rows)
    assert pool.to_dict("records") == [{"patient_key": "a", "stratum": 1, "split": "train"}]
