"""The generated edge cases: each converts correctly or is quarantined with the right reason."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.demo.edge_cases import CASES, GEOMETRY, LOCALIZER_CODE, write_edge_cases
from medimg.ingest.tree import ingest_tree

SALT = b"edge-case-salt-0123456789"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    raw = tmp_path_factory.mktemp("edge_raw")
    truth = write_edge_cases(raw)
    out = tmp_path_factory.mktemp("edge_out")
    summary = ingest_tree(
        raw, out, SALT, DataParams(label_column="case"), SplitParams(), IngestParams(workers=2)
    )
    manifest = pd.read_parquet(out / "manifest.parquet")
    return raw, out, truth, summary, manifest


def _row(manifest, case, status=None):
    rows = manifest[manifest["label"] == case.label]
    if status:
        rows = rows[rows["status"] == status]
    assert len(rows) == 1, f"{case.name}: expected one row, got {len(rows)}"
    return rows.iloc[0]


def _voxels(out, row):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(out / row["volume_path"])))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_ends_converted_or_quarantined_with_its_reason(edge, case):
    _, _, _, _, manifest = edge
    row = _row(manifest, case, case.status)
    if case.status == "quarantined":
        assert row["reason_code"] == case.code and len(row["reason"]) > 15
        assert pd.isna(row["volume_path"])
    else:
        assert row["fixes"] == case.code and row["reason_code"] == ""


def test_lossless_variants_give_the_phantom_voxels_in_hu_on_the_classic_grid(edge):
    _, out, truth, _, manifest = edge
    expected = np.clip(np.rint(truth["phantom_hu"]), -1024, 3071)
    reference = sitk.ReadImage(str(out / _row(manifest, CASES[0])["volume_path"]))
    for name in ("shuffled_names", "multiframe", "monochrome1", "jpeg2000", "mixed_folder_a"):
        row = _row(manifest, next(c for c in CASES if c.name == name), "ok")
        image = sitk.ReadImage(str(out / row["volume_path"]))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected, err_msg=name)
        assert image.GetSize() == (32, 32, 20) and image.GetSpacing() == pytest.approx(
            (8.0, 8.0, 5.0)
        )
        assert image.GetOrigin() == pytest.approx(
            reference.GetOrigin()
        ) and image.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)


def test_mixed_folder_splits_into_series_and_a_localizer(edge):
    _, out, truth, _, manifest = edge
    localizer = _row(manifest, CASES[4], "quarantined")
    assert localizer["reason_code"] == LOCALIZER_CODE
    flipped = _voxels(out, _row(manifest, CASES[5]))
    np.testing.assert_array_equal(flipped, np.clip(np.rint(truth["phantom_hu"][::-1]), -1024, 3071))


def test_gantry_tilt_is_resampled_back_onto_the_untilted_anatomy(edge):
    _, out, truth, _, manifest = edge
    row = _row(manifest, CASES[1])
    corrected = _voxels(out, row).astype(float)
    assert "21.8 degrees" in row["reason"]
    phantom = truth["phantom_hu"]
    # every 4th slice drifted a whole number of pixels, so there the shear correction is exact;
    # rows 4+ were never pushed out of the field of view
    exact = (slice(0, 20, 4), slice(4, 32), slice(None))
    np.testing.assert_allclose(
        corrected[exact], np.clip(np.rint(phantom[exact]), -1024, 3071), atol=1.0
    )
    in_between = np.abs(
        corrected[1::4, 4:] - phantom[1::4, 4:]
    ).mean()  # two linear interpolations blur edges
    sheared = np.abs(phantom[1::4, 4:] - phantom[1::4, 3:-1]).mean()
    assert in_between < sheared


def test_uneven_spacing_is_resampled_to_the_median_spacing(edge):
    _, out, truth, _, manifest = edge
    row = _row(manifest, CASES[10])
    assert row["spacing"][2] == pytest.approx(GEOMETRY.slice_spacing_mm)
    volume = _voxels(out, row)
    assert volume.shape[0] == round(95 / 5) + 1
    error = np.abs(
        volume[::3].astype(float) - truth["phantom_hu"][::3]
    ).mean()  # slices that did not move
    assert error < 1.0


def test_pictures_and_non_image_objects(edge):
    _, out, _, summary, manifest = edge
    radiograph = _row(manifest, CASES[12])
    assert radiograph["ndim"] == 2 and radiograph["spacing"] == pytest.approx([0.5, 0.5])
    photo = manifest[manifest["modality"] == "photo"].iloc[0]
    assert photo["channels"] == 3 and list(photo["shape"]) == [64, 64]
    assert summary["non_image_objects"] == {"SR": 1}
    assert summary["items_without_label"] == 1  # the PNG: reported, not dropped


def test_the_clean_case_agrees_with_simpleitk_and_dcm2niix(edge, tmp_path):
    raw, out, _, _, manifest = edge
    ours = sitk.ReadImage(str(out / _row(manifest, CASES[0])["volume_path"]))
    folder = next(p.parent for p in (raw / "shuffled").rglob("*") if p.is_file())
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    converters = {"simpleitk": reader.Execute()}
    dcm2niix = str(Path(sys.executable).parent / "dcm2niix")
    subprocess.run(
        [dcm2niix, "-z", "y", "-f", "ref", "-o", str(tmp_path), str(folder)],
        check=True,
        capture_output=True,
    )
    converters["dcm2niix"] = sitk.ReadImage(str(tmp_path / "ref.nii.gz"))
    for name, reference in converters.items():
        reference = sitk.DICOMOrient(reference, "LPS")
        np.testing.assert_allclose(
            sitk.GetArrayFromImage(sitk.DICOMOrient(ours, "LPS")),
            sitk.GetArrayFromImage(reference),
            err_msg=name,
        )
        np.testing.assert_allclose(
            ours.GetSpacing(), reference.GetSpacing(), atol=1e-4, err_msg=name
        )
        np.testing.assert_allclose(ours.GetOrigin(), reference.GetOrigin(), atol=1e-3, err_msg=name)
        np.testing.assert_allclose(
            ours.GetDirection(), reference.GetDirection(), atol=1e-6, err_msg=name
        )


def test_no_case_identifier_reaches_the_outputs(edge):
    raw, out, truth, _, _ = edge
    canaries = {
        truth["patient"].name,
        truth["patient"].patient_id,
        truth["study"].accession_number,
        truth["study"].institution,
        truth["study"].study_uid,
        *truth["series_uids"].values(),
    }
    folders = {p.name for p in raw.rglob("*") if p.is_dir()} - {
        "shuffled",
        "tilt",
        "gap",
        "duplicate",
        "mixed",
        "multiframe",
        "monochrome1",
        "jpeg2000",
        "truncated",
        "uneven",
        "mpeg",
        "radiograph",
        "report",
        "photos",
    }
    canaries |= folders | {
        p.stem for p in raw.rglob("*") if p.is_file() and p.parent.name in folders
    }
    for path in out.rglob("*"):
        if path.is_file():
            text = (
                pd.read_parquet(path).to_csv()
                if path.suffix == ".parquet"
                else path.read_bytes().decode("latin-1")
            )
            found = [c for c in canaries if c in text or c in str(path.relative_to(out))]
            assert not found, f"{path.name} holds {found[:3]}"
    assert pydicom.dcmread(next((raw / "shuffled").rglob("*.dcm"))).PatientID == "EDGEPID0001"


def test_a_mask_that_does_not_fit_quarantines_without_a_dangling_volume(tmp_path):
    raw = tmp_path / "raw"
    write_edge_cases(raw)
    labels = pd.read_csv(raw / "labels.csv")
    labels["mask"] = "missing.nii.gz"
    labels.to_csv(raw / "labels.csv", index=False)
    out = tmp_path / "out"
    ingest_tree(
        raw,
        out,
        SALT,
        DataParams(label_column="case", mask_column="mask"),
        SplitParams(),
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(out / "manifest.parquet")
    masked = manifest[manifest["reason_code"] == "mask_missing"]
    assert len(masked) >= 8 and masked["volume_path"].isna().all()
    assert all((out / v).exists() for v in manifest["volume_path"].dropna())
