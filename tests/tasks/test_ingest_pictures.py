"""PNG photos with labels.csv joined by image path: 2D items, one patient for both eyes."""

import pandas as pd

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.tree import ingest_tree


def test_fundus_photos_become_labelled_2d_items_of_their_patient(tiny, demo_raw, tmp_path):
    _, paths = tiny
    raw = paths.raw.parent / "fundus-dr"
    labels = pd.read_csv(raw / "labels.csv")
    data = DataParams(label_join="image", label_column="grade", patient_column="patient_id")
    summary = ingest_tree(
        raw,
        tmp_path / "out",
        b"picture-salt-0123456789",
        data,
        SplitParams(ratios={"train": 0.5, "val": 0.0, "test": 0.5}),
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert summary["by_ndim"] == {"2": len(labels)} and summary["items_without_label"] == 0
    assert (manifest["status"] == "ok").all() and (manifest["channels"] == 3).all()
    assert sorted(manifest["label"]) == sorted(labels["grade"])
    assert manifest["patient_key"].nunique() == labels["patient_id"].nunique()
    assert (manifest.groupby("patient_key")["split"].nunique() == 1).all()
    assert not manifest.astype(str).apply(lambda c: c.str.contains("MRN")).any().any()
