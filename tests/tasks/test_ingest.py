import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import SimpleITK as sitk

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.manifest import COLUMNS
from medimg.ingest.tree import ingest_tree

IDENTIFYING_TAGS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
]


def series_folders(raw: Path) -> list[Path]:
    return sorted(
        {p.parent for p in raw.rglob("*") if p.is_file() and p.parent.parent.parent == raw}
    )


def test_every_series_converts_with_the_geometry_and_voxels_simpleitk_reads(tiny, ingested):
    params, paths = tiny
    manifest = pd.read_parquet(paths.manifest)
    assert list(manifest.columns) == COLUMNS
    assert len(manifest) == 12 and (manifest["status"] == "ok").all()
    assert manifest["split"].notna().all() and manifest["label"].notna().all()
    for folder in series_folders(paths.raw)[:3]:
        reader = sitk.ImageSeriesReader()
        reference = (
            reader.Execute()
            if reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
            is None
            else None
        )
        uid = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).SeriesInstanceUID
        labels = pd.read_csv(paths.raw / "labels.csv").set_index("series_instance_uid")
        row = manifest[manifest["n_files"] == reference.GetSize()[2]]
        ours = [sitk.ReadImage(str(paths.interim / v)) for v in row["volume_path"]]
        match = [
            o
            for o in ours
            if np.array_equal(sitk.GetArrayFromImage(o), sitk.GetArrayFromImage(reference))
        ]
        assert len(match) == 1, "one converted volume has exactly the reference voxels"
        np.testing.assert_allclose(match[0].GetSpacing(), reference.GetSpacing(), atol=1e-4)
        np.testing.assert_allclose(match[0].GetOrigin(), reference.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(match[0].GetDirection(), reference.GetDirection(), atol=1e-6)
        assert sitk.GetArrayFromImage(match[0]).min() >= -1024  # HU, rescale applied
        assert uid in labels.index


def test_masks_land_on_the_series_grid_and_cover_the_nodule(tiny, ingested):
    _, paths = tiny
    manifest = pd.read_parquet(paths.manifest)
    for row in manifest.itertuples():
        mask = sitk.ReadImage(str(paths.interim / row.mask_path))
        volume = sitk.ReadImage(str(paths.interim / row.volume_path))
        assert mask.GetSize() == volume.GetSize() and np.allclose(
            mask.GetOrigin(), volume.GetOrigin()
        )
        voxels = sitk.GetArrayFromImage(mask).astype(bool)
        assert voxels.any() == bool(row.label)
        if voxels.any():  # mask voxels are at least half nodule (60 HU) in lung (-850 HU)
            assert np.median(sitk.GetArrayFromImage(volume)[voxels]) > -450


def _text_of(path: Path) -> bytes:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv().encode()
    if path.name.endswith(".gz"):
        with gzip.open(path) as handle:
            return handle.read()
    return path.read_bytes()


def test_no_identifier_reaches_any_output(tiny, exported):
    _, paths = tiny
    canaries = set()
    for dcm in paths.raw.rglob("*"):
        if dcm.is_file() and dcm.suffix not in (".csv", ".gz"):
            ds = pydicom.dcmread(dcm, stop_before_pixels=True)
            canaries |= {str(ds.get(tag)) for tag in IDENTIFYING_TAGS if ds.get(tag)}
    raw_names = {
        p.name for p in paths.raw.rglob("*") if p.parent != paths.raw and p.parent.name != "masks"
    }
    canaries |= {
        name.removesuffix(".dcm") for name in raw_names
    }  # folder and file names can be identifying
    assert len(canaries) > 300
    outputs = [
        p
        for folder in (paths.interim, paths.processed, paths.models, paths.reports, paths.artifacts)
        for p in folder.rglob("*")
        if p.is_file()
    ] + [paths.root / "mlflow.db"]
    assert len(outputs) > 20
    for path in outputs:
        text = _text_of(path)
        leaked = [c for c in canaries if c.encode() in text or c in str(path)]
        assert not leaked, f"{path} contains {leaked[:3]}"


def _write_series(demo_raw_dir: Path, target: Path) -> Path:
    """Copy one generated series (its files only) into a new tree for damage tests."""
    source = series_folders(demo_raw_dir)[0]
    shutil.copytree(source, target)
    return target


def test_damaged_series_are_quarantined_with_reasons_and_the_rest_converts(
    tmp_path, tiny, demo_raw
):
    _, paths = tiny
    folders = series_folders(paths.raw)
    raw = tmp_path / "raw"
    for i, folder in enumerate(folders[:3]):
        shutil.copytree(folder, raw / f"s{i}")
    files = sorted(
        (raw / "s0").iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2])
    )
    files[len(files) // 2].unlink()  # a missing slice in the middle
    dup = sorted((raw / "s1").iterdir())[0]
    ds = pydicom.dcmread(dup)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(raw / "s1" / "copy_of_a_slice")  # a duplicate position
    (raw / "notes.dcm").write_text("not a DICOM file, despite its name")
    (raw / "DICOMDIR").write_bytes(b"\0" * 200)
    summary = ingest_tree(
        raw,
        tmp_path / "out",
        b"test-salt-0123456789",
        DataParams(),
        SplitParams(),
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert summary["by_status"] == {"ok": 1, "quarantined": 2}
    assert set(manifest["reason_code"]) == {"", "missing_slices", "duplicate_positions"}
    assert (manifest.loc[manifest.status == "quarantined", "reason"].str.len() > 10).all()
    assert summary["skipped_files_by_reason"] == {"not_dicom": 1, "dicomdir": 1}
    assert summary["items_without_label"] == 3  # no labels.csv: reported, not dropped
