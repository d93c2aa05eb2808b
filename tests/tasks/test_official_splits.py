"""A `split` column in labels.csv is an official split: kept as given, the rest assigned by patient."""

import cv2
import numpy as np
import pandas as pd
import pytest

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.labels import LabelError
from medimg.ingest.tree import ingest_tree

DATA = DataParams(label_join="image", label_column="label", patient_column="patient")
SALT = b"official-split-salt-0123"


def write_pictures(raw, rows: list[dict]) -> None:
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for row in rows:
        cv2.imwrite(str(raw / row["image"]), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    pd.DataFrame(rows).to_csv(raw / "labels.csv", index=False)


def ingest(raw, out):
    return ingest_tree(raw, out, SALT, DATA, SplitParams(), IngestParams(workers=1))


def test_given_splits_are_kept_and_the_others_assigned_by_patient(tmp_path):
    rows = [
        {
            "image": f"p{i}_{eye}.png",
            "patient": f"PATIENT-{i}",
            "label": i % 2,
            "split": "test" if i < 3 else "",
        }
        for i in range(10)
        for eye in ("l", "r")
    ]
    rows[6]["split"] = rows[7]["split"] = "val"  # patient 3: both eyes given val
    write_pictures(tmp_path / "raw", rows)
    summary = ingest(tmp_path / "raw", tmp_path / "out")
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    by_patient = manifest.groupby("patient_key")
    assert (by_patient["split"].nunique() == 1).all()
    official = manifest[manifest["split_source"] == "labels.csv"]
    assert len(official) == 8 and sorted(official["split"]) == ["test"] * 6 + ["val"] * 2
    assigned = manifest[manifest["split_source"] == "assigned"]
    assert len(assigned) == 12 and set(assigned["split"]) <= {"train", "val", "test"}
    assert summary["by_split_source"] == {"labels.csv": 8, "assigned": 12}
    assert not manifest.astype(str).apply(lambda c: c.str.contains("PATIENT")).any().any()


def test_one_patient_given_two_splits_fails_before_any_work_naming_lines_not_identifiers(tmp_path):
    rows = [
        {
            "image": f"p{i}.png",
            "patient": "PATIENT-7" if i < 2 else f"PATIENT-{i}",
            "label": 0,
            "split": ("train", "test")[i] if i < 2 else "",
        }
        for i in range(4)
    ]
    write_pictures(tmp_path / "raw", rows)
    with pytest.raises(LabelError) as caught:
        ingest(tmp_path / "raw", tmp_path / "out")
    message = str(caught.value)
    assert "line(s) 2 say train and line(s) 3 say test" in message and "PATIENT" not in message
    assert not (tmp_path / "out").exists()


def test_an_unknown_split_value_names_its_line(tmp_path):
    write_pictures(
        tmp_path / "raw", [{"image": "a.png", "patient": "P", "label": 0, "split": "holdout"}]
    )
    with pytest.raises(
        LabelError, match=r"labels.csv:2: split='holdout' is not one of train, val, test"
    ):
        ingest(tmp_path / "raw", tmp_path / "out")
