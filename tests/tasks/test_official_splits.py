"""A `split` column in labels.csv is an official split: kept as given, the rest assigned by patient."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.folds import FoldError
from medimg.ingest.labels import LabelError
from medimg.ingest.splits import assign_splits, split_by_patient
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
    # an official test split is the whole test set: the unassigned rows go to train and val only
    assert len(assigned) == 12 and set(assigned["split"]) <= {"train", "val"}
    assert (manifest["split"] == "test").sum() == 6
    assert summary["by_split_source"] == {"labels.csv": 8, "assigned": 12}
    assert summary["split_protocol"]["text"].startswith("official test split (6 cases)")
    assert summary["warnings"] == [
        "split.ratios.test=0.25 is ignored: 6 item(s) carry an official test split (imagesTs or "
        "labels.csv), which alone is the test set; the other items are split into train and val only"
    ]
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


def test_given_val_rows_without_test_rows_leave_the_test_split_assigned(tmp_path):
    rows = [
        {"image": f"p{i}.png", "patient": f"P{i}", "label": i % 2, "split": "val" if i < 2 else ""}
        for i in range(24)
    ]
    write_pictures(tmp_path / "raw", rows)
    summary = ingest(tmp_path / "raw", tmp_path / "out")
    assert summary["by_split"]["test"] == 6 and summary["warnings"] == []
    assert summary["split_protocol"]["text"] == (
        "assigned by patient (fractions train 0.6, val 0.15, test 0.25)"
    )


def test_a_rerun_after_an_official_test_split_appears_moves_assigned_test_items_to_train_or_val(
    tmp_path,
):
    rows = [
        {"image": f"p{i}.png", "patient": f"P{i}", "label": i % 2, "split": ""} for i in range(24)
    ]
    write_pictures(tmp_path / "raw", rows)
    before = ingest(tmp_path / "raw", tmp_path / "out")
    assert before["by_split"]["test"] == 6
    labels = pd.read_csv(tmp_path / "raw/labels.csv", keep_default_na=False)
    labels.loc[:3, "split"] = "test"
    labels.to_csv(tmp_path / "raw/labels.csv", index=False)
    after = ingest(tmp_path / "raw", tmp_path / "out")
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    assert after["by_split"]["test"] == 4
    assert set(manifest.loc[manifest["split_source"] == "assigned", "split"]) == {"train", "val"}


def write_decathlon(raw, training: int, test: int) -> None:
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(training + test):
        image = sitk.GetImageFromArray(rng.normal(size=(4, 6, 6)).astype(np.float32))
        folder = "imagesTr" if i < training else "imagesTs"
        sitk.WriteImage(image, str(raw / folder / f"case_{i:03d}.nii.gz"))
        if i < training:
            label = np.zeros((4, 6, 6), np.uint8)
            label[1:3, 2:4, 2:4] = i % 2  # half the cases have foreground: two strata
            mask = sitk.GetImageFromArray(label)
            mask.CopyInformation(image)
            sitk.WriteImage(mask, str(raw / "labelsTr" / f"case_{i:03d}.nii.gz"))
    (raw / "dataset.json").write_text(
        json.dumps(
            {
                "modality": {"0": "MRI"},
                "labels": {"0": "background", "1": "structure"},
                "training": [
                    {
                        "image": f"./imagesTr/case_{i:03d}.nii.gz",
                        "label": f"./labelsTr/case_{i:03d}.nii.gz",
                    }
                    for i in range(training)
                ],
                "test": [
                    f"./imagesTs/case_{i:03d}.nii.gz" for i in range(training, training + test)
                ],
            }
        )
    )


def test_a_decathlon_folder_tests_on_its_imagests_cases_alone_and_keeps_every_training_case(
    tmp_path,
):
    write_decathlon(tmp_path / "raw", training=96, test=24)
    summary = ingest_tree(
        tmp_path / "raw",
        tmp_path / "out",
        SALT,
        DataParams(layout="decathlon"),
        SplitParams(),
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    test = manifest[manifest["split"] == "test"]
    assert len(test) == 24 and (test["split_source"] == "labels.csv").all()
    assert test["mask_path"].isna().all()  # exactly the imagesTs cases
    rest = manifest[manifest["split"] != "test"]
    assert len(rest) == 96 and set(rest["split_source"]) == {"assigned"}
    # val keeps its share of the non-test items, 0.15 / (0.6 + 0.15) = 0.2, cut per stratum of 48
    assert summary["by_split"] == {"train": 76, "val": 20, "test": 24}
    assert summary["split_protocol"]["text"] == (
        "official test split (24 cases); the other items split by patient into train 0.80 and "
        "val 0.20"
    )


def test_without_any_official_split_the_assignment_is_unchanged():
    """No official split: the three-way split by patient at split.ratios, as before issue 29."""
    rows = pd.DataFrame(
        {"patient_key": [f"p{i:03d}" for i in range(80)], "label": [i % 3 for i in range(80)]}
    )
    ratios = SplitParams().ratios
    assigned = assign_splits(rows, {}, ratios, seed=7)
    assert assigned["split"].equals(split_by_patient(rows, ratios, 7).astype(object))
    assert (assigned["split_source"] == "assigned").all()
    assert assigned["split"].value_counts().to_dict() == {"train": 48, "test": 20, "val": 12}


def test_with_folds_the_official_test_split_stays_and_the_rest_is_cut_into_folds_only(tmp_path):
    write_decathlon(tmp_path / "raw", training=40, test=10)
    split = SplitParams(folds=5)
    summary = ingest_tree(
        tmp_path / "raw",
        tmp_path / "out",
        SALT,
        DataParams(layout="decathlon"),
        split,
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    assert summary["by_split"] == {"train": 40, "test": 10}  # no val split: the folds validate
    folds = json.loads((tmp_path / "out/splits.json").read_text())
    assert folds["folds"] == 5 and [f["val_patients"] for f in folds["splits"]] == [8] * 5
    assert [f["val_positive_patients"] for f in folds["splits"]] == [4] * 5
    test_patients = set(manifest.loc[manifest["split"] == "test", "patient_key"])
    for entry in folds["splits"]:
        assert not (set(entry["train"]) | set(entry["val"])) & test_patients
    assert summary["split_protocol"]["text"] == (
        "official test split (10 cases); the other items in 5 cross-validation folds by patient"
    )
    before = (tmp_path / "out/splits.json").read_text()
    ingest_tree(
        tmp_path / "raw",
        tmp_path / "out",
        SALT,
        DataParams(layout="decathlon"),
        split,
        IngestParams(workers=1),
    )
    assert (tmp_path / "out/splits.json").read_text() == before  # a rerun never reshuffles


def test_a_dataset_too_small_for_its_folds_fails_naming_the_key_and_keeps_its_conversions(
    tmp_path,
):
    write_decathlon(tmp_path / "raw", training=6, test=2)
    with pytest.raises(FoldError, match=r"split.folds: 5, but fold\(s\)"):
        ingest_tree(
            tmp_path / "raw",
            tmp_path / "out",
            SALT,
            DataParams(layout="decathlon"),
            SplitParams(folds=5),
            IngestParams(workers=1),
        )
    again = ingest_tree(
        tmp_path / "raw",
        tmp_path / "out",
        SALT,
        DataParams(layout="decathlon"),
        SplitParams(folds=2),
        IngestParams(workers=1),
    )
    assert again["run"]["reused"] == 8 and again["run"]["converted"] == 0


def test_going_from_folds_back_to_one_split_cuts_train_and_val_again_and_keeps_test(tmp_path):
    write_decathlon(tmp_path / "raw", training=40, test=0)

    def run(folds):
        ingest_tree(
            tmp_path / "raw",
            tmp_path / "out",
            SALT,
            DataParams(layout="decathlon"),
            SplitParams(folds=folds),
            IngestParams(workers=1),
        )
        manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
        return dict(zip(manifest["patient_key"], manifest["split"]))

    single = run(1)
    folded = run(4)
    assert set(folded.values()) == {"train", "test"}
    assert {k for k, v in folded.items() if v == "test"} == {
        k for k, v in single.items() if v == "test"
    }
    again = run(1)
    tests = {k for k, v in single.items() if v == "test"}
    assert {k for k, v in again.items() if v == "test"} == tests  # test never moves
    shares = pd.Series(again).value_counts().to_dict()
    assert shares["val"] == pd.Series(single).value_counts()["val"]  # val is cut again


def test_a_decathlon_folder_of_links_ingests_with_the_keys_of_the_files_it_links(tmp_path):
    """DVC's symlink cache and shared read-only data give folders whose files are links elsewhere:
    each case is named by its path under raw_dir, never by where the link points."""
    write_decathlon(tmp_path / "real", training=8, test=2)
    linked = tmp_path / "raw"
    for source in (tmp_path / "real").rglob("*"):
        target = linked / source.relative_to(tmp_path / "real")
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    outcomes = {}
    for name in ("real", "raw"):
        ingest_tree(
            tmp_path / name,
            tmp_path / f"out-{name}",
            SALT,
            DataParams(layout="decathlon"),
            SplitParams(),
            IngestParams(workers=1),
        )
        manifest = pd.read_parquet(tmp_path / f"out-{name}/manifest.parquet")
        outcomes[name] = sorted(manifest["series_key"])
        assert (manifest["status"] == "ok").all() and len(manifest) == 10
    assert outcomes["raw"] == outcomes["real"]
