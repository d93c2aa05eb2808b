"""A real DICOM SEG (dcmqi's liver on three GE CT slices) read onto its CT's grid equals the NRRD mask."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.tree import ingest_tree
from tests.conftest import REPO

LIVER = REPO.parent / "shared/corpora/real_small/dcmqi_ct_liver"


@pytest.mark.skipif(not LIVER.is_dir(), reason="needs ../shared/corpora (absent in a user's clone)")
def test_a_real_dicom_seg_lands_on_its_ct_slices_as_the_nrrd_mask(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("01.dcm", "02.dcm", "03.dcm"):
        (raw / name).symlink_to(LIVER / "ct-3slice" / name)
    (raw / "liver.seg").symlink_to(
        LIVER / "liver.dcm"
    )  # outside the DICOM walk: a mask, not an item
    series_uid = sitk.ReadImage(str(raw / "01.dcm")).GetMetaData("0020|000e").strip()
    pd.DataFrame({"series_instance_uid": [series_uid], "label": [1], "mask": ["liver.seg"]}).to_csv(
        raw / "labels.csv", index=False
    )
    data = DataParams(label_join="series_instance_uid", label_column="label", mask_column="mask")
    ingest_tree(
        raw,
        tmp_path / "out",
        b"seg-salt-0123456789ab",
        data,
        SplitParams(),
        IngestParams(workers=1),
    )
    manifest = pd.read_parquet(tmp_path / "out/manifest.parquet")
    row = manifest[manifest["status"] == "ok"].iloc[0]
    mask = sitk.ReadImage(str(tmp_path / "out" / row["mask_path"]))
    expected = sitk.ReadImage(str(LIVER / "liver_seg.nrrd"))
    assert mask.GetSize() == expected.GetSize()
    assert np.allclose(mask.GetOrigin(), expected.GetOrigin(), atol=1e-3)
    got, want = sitk.GetArrayFromImage(mask) > 0, sitk.GetArrayFromImage(expected) > 0
    assert want.sum() > 1000 and np.array_equal(got, want)
