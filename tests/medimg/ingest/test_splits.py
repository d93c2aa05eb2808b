import numpy as np
import pandas as pd

from medimg.ingest.splits import split_by_patient

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


def cohort(n_patients: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for _ in range(rng.integers(1, 3)):  # some patients have two series
            rows.append({"patient_key": f"pa{p:04d}", "label": int(rng.random() < 0.3)})
    return pd.DataFrame(rows)


def test_no_patient_spans_two_splits_and_labels_are_stratified():
    rows = cohort(300)
    rows["split"] = split_by_patient(rows, RATIOS, seed=1)
    assert (rows.groupby("patient_key")["split"].nunique() == 1).all()
    positives = (
        rows.groupby("patient_key")["label"]
        .max()
        .groupby(rows.groupby("patient_key")["split"].first())
    )
    shares = positives.mean()
    assert shares.max() - shares.min() < 0.05  # each split gets its share of positives
    counts = rows.groupby("patient_key")["split"].first().value_counts(normalize=True)
    assert abs(counts["train"] - 0.6) < 0.02 and abs(counts["test"] - 0.2) < 0.02


def test_split_is_fixed_by_seed_and_mostly_stable_when_patients_are_added():
    small, large = cohort(200), cohort(220)
    first = dict(zip(small["patient_key"], split_by_patient(small, RATIOS, seed=3)))
    again = dict(zip(small["patient_key"], split_by_patient(small, RATIOS, seed=3)))
    grown = dict(zip(large["patient_key"], split_by_patient(large, RATIOS, seed=3)))
    assert first == again
    moved = sum(first[k] != grown[k] for k in first if k in grown)
    assert moved <= 0.1 * len(first)


def test_unlabelled_rows_get_no_split():
    rows = pd.DataFrame({"patient_key": ["a", "b", "c"], "label": [1, None, 0]})
    assert split_by_patient(rows, RATIOS, seed=0).isna().tolist() == [False, True, False]


def test_with_earlier_splits_nobody_moves_and_new_patients_fill_the_ratios():
    small, large = cohort(200), cohort(300)
    first = dict(zip(small["patient_key"], split_by_patient(small, RATIOS, seed=3)))
    grown = large.assign(split=split_by_patient(large, RATIOS, seed=3, earlier=first).to_numpy())
    per_patient = grown.groupby("patient_key")["split"].first()
    assert all(per_patient[k] == v for k, v in first.items())
    shares = per_patient.value_counts(normalize=True)
    assert abs(shares["train"] - 0.6) < 0.02 and abs(shares["val"] - 0.2) < 0.02
