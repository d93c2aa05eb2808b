"""Volume files (NIfTI, NRRD, MetaImage) and Decathlon/nnU-Net folders as raw input, read back by SimpleITK."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from medimg.config.loading import load_params
from medimg.config.paths import ProjectPaths
from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.layouts import read_dataset
from medimg.ingest.tree import ingest_tree
from tasks.ingest import run_ingest
from tasks.preprocess import run_preprocess
from tests.conftest import REPO, tiny_params
from tests.datasets import volume, write_nnunet

PYRADIOMICS = REPO.parent / "shared/corpora/real_small/pyradiomics_mr"
SALT = b"volume-files-salt-012345"
FILES = DataParams(label_join="image", label_column="label", mask_column="mask", layout="files")


def ingest(raw: Path, out: Path, data: DataParams = FILES) -> dict:
    return ingest_tree(raw, out, SALT, data, SplitParams(), IngestParams(workers=1))


def rows_by_reason(out: Path) -> dict:
    manifest = pd.read_parquet(out / "manifest.parquet")
    return dict(zip(manifest["reason_code"], manifest["status"]))


@pytest.mark.skipif(
    not PYRADIOMICS.is_dir(), reason="needs ../shared/corpora (absent in a user's clone)"
)
def test_real_nrrd_brain_mr_keeps_its_geometry_and_its_mask_and_preprocesses(tmp_path):
    params = tiny_params(tmp_path)
    params["data"].update(
        raw_dir="raw", label_join="image", label_column="label", mask_column="mask", layout="auto"
    )
    params["preprocess"].update(normalize="percentile_zscore", crop="none")  # MR: no HU, no lungs
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    raw = tmp_path / "raw"
    raw.mkdir()
    for case in (
        "brain1",
        "brain2",
    ):  # a folder made of the corpus files; the corpus stays where it is
        for part in ("image", "label"):
            (raw / f"{case}_{part}.nrrd").symlink_to(PYRADIOMICS / f"{case}_{part}.nrrd")
    pd.DataFrame(
        {
            "image": ["brain1_image.nrrd", "brain2_image.nrrd"],
            "label": [1, 1],
            "mask": ["brain1_label.nrrd", "brain2_label.nrrd"],
        }
    ).to_csv(raw / "labels.csv", index=False)
    loaded = load_params(tmp_path / "params.yaml")
    paths = ProjectPaths.from_params(loaded, tmp_path)
    summary = run_ingest(loaded, paths)["summary"]
    assert (
        summary["items"] == 2
        and summary["by_status"] == {"ok": 2}
        and summary["by_ndim"] == {"3": 2}
    )
    manifest = pd.read_parquet(paths.manifest)
    originals = {  # the two volumes differ in size (25 and 23 slices)
        image.GetSize(): image
        for image in (sitk.ReadImage(str(raw / f"{c}_image.nrrd")) for c in ("brain1", "brain2"))
    }
    assert len(originals) == 2
    for row in manifest.itertuples():
        written = sitk.ReadImage(str(paths.interim / row.volume_path))
        original = originals[written.GetSize()]
        assert written.GetSize() == original.GetSize()
        assert np.allclose(written.GetSpacing(), original.GetSpacing())
        assert np.allclose(written.GetOrigin(), original.GetOrigin(), atol=1e-4)
        assert np.allclose(written.GetDirection(), original.GetDirection(), atol=1e-6)
        assert np.array_equal(
            sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(original).astype(np.float32)
        )
        mask = sitk.ReadImage(str(paths.interim / row.mask_path))
        assert mask.GetSize() == written.GetSize() and sitk.GetArrayFromImage(mask).any()
    assert not manifest.astype(str).apply(lambda c: c.str.contains("brain")).any().any()
    processed = run_preprocess(loaded, paths)
    assert processed["items"] == 2 and processed["rejected"] == {}
    index = pd.read_parquet(paths.index)
    assert all(np.load(paths.processed / m).any() for m in index["mask_cache_path"])


def test_broken_volume_files_are_quarantined_each_with_its_reason(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    good = volume(rng.normal(size=(8, 16, 16)).astype(np.float32))
    sitk.WriteImage(good, str(raw / "good.nii.gz"))
    sitk.WriteImage(sitk.Cast(good > 0, sitk.sitkUInt8), str(raw / "good_mask.nii.gz"))
    nan = sitk.GetArrayFromImage(good)
    nan[2, 3, 4] = np.nan
    sitk.WriteImage(volume(nan), str(raw / "nan.nrrd"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((16, 16), np.float32)), str(raw / "flat.mha"))
    (raw / "torn.nii.gz").write_bytes(b"not a volume at all")
    sitk.WriteImage(good, str(raw / "offgrid.nii.gz"))
    shifted = volume(np.zeros((8, 16, 16), np.uint8), spacing=(3.0, 3.0, 3.0))
    sitk.WriteImage(shifted, str(raw / "offgrid_mask.nii.gz"))
    pd.DataFrame(
        {
            "image": ["good.nii.gz", "offgrid.nii.gz", "nan.nrrd"],
            "label": [1, 0, 1],
            "mask": ["good_mask.nii.gz", "offgrid_mask.nii.gz", ""],
        }
    ).to_csv(raw / "labels.csv", index=False)
    summary = ingest(raw, tmp_path / "out")
    assert summary["items"] == 5  # the two masks are not items of their own
    assert rows_by_reason(tmp_path / "out") == {
        "": "ok",
        "non_finite_values": "quarantined",
        "not_3d": "quarantined",
        "unreadable_volume": "quarantined",
        "mask_grid_mismatch": "quarantined",
    }
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    reasons = dict(zip(manifest["reason_code"], manifest["reason"]))
    assert "1 NaN or infinite voxel(s)" in reasons["non_finite_values"]
    assert "(16, 16, 8) at 3 x 3 x 3 mm" in reasons["mask_grid_mismatch"]
    ok = manifest[manifest["status"] == "ok"].iloc[0]
    assert ok["modality"] == "OT" and ok["ndim"] == 3 and ok["label"] == 1
    assert np.allclose(list(ok["spacing"]), [1.5, 1.5, 3.0])


def test_a_4d_file_becomes_one_item_with_a_channel_per_volume(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    frames = [volume(np.full((6, 8, 8), float(c), np.float32)) for c in range(3)]
    sitk.WriteImage(sitk.JoinSeries(frames), str(raw / "multi.nii.gz"))
    ingest(raw, tmp_path / "out")
    row = pd.read_parquet(tmp_path / "out/manifest.parquet").iloc[0]
    assert row["status"] == "ok" and row["channels"] == 3
    written = sitk.ReadImage(str(tmp_path / "out" / row["volume_path"]))
    assert written.GetNumberOfComponentsPerPixel() == 3
    assert np.array_equal(sitk.GetArrayFromImage(written)[0, 0, 0], [0.0, 1.0, 2.0])


def test_an_nnunet_folder_is_read_as_it_comes_channels_labels_and_test_split(tmp_path, monkeypatch):
    write_nnunet(tmp_path / "raw")
    monkeypatch.chdir(tmp_path)  # relative, as params.yaml's data.raw_dir is
    dataset = read_dataset(Path("raw"))
    assert dataset.modality == "CT" and dataset.label_names == {0: "background", 1: "lesion"}
    summary = ingest(Path("raw"), Path("out"), DataParams())  # layout: auto
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    assert (
        summary["items"] == 6
        and (manifest["status"] == "ok").all()
        and (manifest["channels"] == 2).all()
    )
    assert (manifest["modality"] == "CT").all() and (manifest["units"] == "HU").all()
    assert sorted(manifest["label"]) == [0, 0, 0, 1, 1, 1]  # from the label maps: lesion or not
    test = manifest[manifest["split_source"] == "labels.csv"]
    assert len(test) == 2 and (test["split"] == "test").all()
    assert manifest["mask_path"].notna().all()
    assert not manifest.astype(str).apply(lambda c: c.str.contains("DOE")).any().any()
    again = ingest(Path("raw"), Path("out"), DataParams())  # a rerun reuses every case, labels kept
    assert again["run"] == {"converted": 0, "reused": 6, "pruned_files": 0}
    assert pd.read_parquet("out/manifest.parquet").equals(manifest)


def test_a_decathlon_folder_lists_its_cases_in_dataset_json_with_4d_images(tmp_path):
    raw = tmp_path / "raw"
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / folder).mkdir(parents=True)
    frames = [volume(np.full((6, 8, 8), float(c), np.float32)) for c in range(2)]
    for name in ("case_1.nii.gz", "case_2.nii.gz"):
        sitk.WriteImage(sitk.JoinSeries(frames), str(raw / "imagesTr" / name))
        sitk.WriteImage(volume(np.ones((6, 8, 8), np.uint8)), str(raw / "labelsTr" / name))
    sitk.WriteImage(sitk.JoinSeries(frames), str(raw / "imagesTs/case_3.nii.gz"))
    (raw / "dataset.json").write_text(
        json.dumps(
            {
                "modality": {"0": "FLAIR", "1": "T1w"},
                "labels": {"0": "background", "1": "tumour"},
                "training": [
                    {"image": f"./imagesTr/case_{i}.nii.gz", "label": f"./labelsTr/case_{i}.nii.gz"}
                    for i in (1, 2)
                ],
                "test": ["./imagesTs/case_3.nii.gz"],
            }
        )
    )
    ingest(raw, tmp_path / "out", DataParams(layout="decathlon"))
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    assert (
        len(manifest) == 3
        and (manifest["channels"] == 2).all()
        and (manifest["modality"] == "FLAIR").all()
    )
    test = manifest[manifest["split"] == "test"]
    assert (
        len(test) == 1
        and test["mask_path"].isna().all()
        and test["split_source"].iloc[0] == "labels.csv"
    )
    shutil.rmtree(raw / "imagesTr")
    with pytest.raises(ValueError, match="listed image file"):
        read_dataset(raw)


def test_an_nnunet_v1_folder_lists_cases_decathlon_style_with_files_per_channel(tmp_path):
    """nnU-Net v1's dataset.json lists ``imagesTr/case.nii.gz`` while the files on disk are
    ``case_0000.nii.gz``, ``case_0001.nii.gz``: each listed case is read from its channel files."""
    raw = tmp_path / "raw"
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / folder).mkdir(parents=True)
    for i, folder in ((1, "imagesTr"), (2, "imagesTr"), (3, "imagesTs")):
        for channel in range(2):
            values = np.full((6, 8, 8), float(10 * i + channel), np.float32)
            sitk.WriteImage(
                volume(values), str(raw / folder / f"prostate_{i:02d}_{channel:04d}.nii.gz")
            )
        if folder == "imagesTr":
            mask = np.zeros((6, 8, 8), np.uint8)
            mask[2:4, 2:5, 2:5] = 1
            sitk.WriteImage(volume(mask), str(raw / "labelsTr" / f"prostate_{i:02d}.nii.gz"))
    (raw / "dataset.json").write_text(
        json.dumps(
            {
                "modality": {"0": "T2", "1": "ADC"},
                "labels": {"0": "background", "1": "prostate"},
                "numTraining": 2,
                "training": [
                    {
                        "image": f"./imagesTr/prostate_{i:02d}.nii.gz",
                        "label": f"./labelsTr/prostate_{i:02d}.nii.gz",
                    }
                    for i in (1, 2)
                ],
                "test": ["./imagesTs/prostate_03.nii.gz"],
            }
        )
    )
    dataset = read_dataset(raw)
    assert [len(c.channels) for c in dataset.cases] == [2, 2, 2]
    assert dataset.cases[0].channels[1].name == "prostate_01_0001.nii.gz"
    ingest(raw, tmp_path / "out", DataParams())
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    assert (manifest["status"] == "ok").all() and (manifest["channels"] == 2).all()
    assert sorted(manifest["split"] == "test") == [False, False, True]
    image = sitk.ReadImage(str(tmp_path / "out" / manifest["volume_path"].iloc[0]))
    assert image.GetNumberOfComponentsPerPixel() == 2
    (
        raw / "imagesTr" / "prostate_02_0001.nii.gz"
    ).unlink()  # one channel missing: named, not guessed
    with pytest.raises(ValueError, match="imagesTr/prostate_02.nii.gz"):
        read_dataset(raw)
