"""The round trip a radiology group runs, against a real Orthanc: studies uploaded to the PACS are
pulled with `medimg pacs pull` (into data/raw/NAME, pseudonymous names, `dvc add`ed), predicted on,
and the SEG/SR sent back with `medimg predict --send` are read back from the PACS with highdicom."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from tests.bundles import (
    assert_seg_lies_on_the_mask,
    expected_probability,
    mean_classifier,
    threshold_segmenter,
    write_study,
)
from tests.conftest import write_tiny_params

REPO = Path(__file__).resolve().parents[2]


def medimg(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    env.pop("MEDIMG_SALT", None)  # the project's own salt file, as a user's clone has
    done = subprocess.run(
        [sys.executable, "-m", "medimg", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def site(orthanc, tmp_path_factory):
    """Three studies on the PACS; a project (git + DVC) that has pulled two of them by accession."""
    orthanc.clear()
    source = tmp_path_factory.mktemp("hospital")
    studies = [write_study(source / f"s{i}", i, bright=i % 2 == 0) for i in range(3)]
    orthanc.upload(sorted(source.rglob("*.dcm")))
    root = tmp_path_factory.mktemp("project")
    write_tiny_params(root)
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True)
    return root, studies


def test_pull_fetches_the_asked_studies_under_pseudonyms_and_dvc_adds_them(
    site, pacs_env, monkeypatch
):
    root, studies = site
    done = medimg(
        root, "pacs", "pull", "site", "--accession", studies[0]["accession"],
        "--accession", studies[1]["accession"],
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert [r["status"] for r in report["studies"]] == ["pulled", "pulled"]
    assert [r["instances"] for r in report["studies"]] == [12, 12]
    assert "pull studies" in done.stderr  # the progress bar
    pulled = sorted((root / "data/raw/site").rglob("*.dcm"))
    assert len(pulled) == 24
    assert {pydicom.dcmread(p).AccessionNumber for p in pulled} == {
        s["accession"] for s in studies[:2]
    }
    assert (root / "data/raw/site.dvc").is_file() and report["dvc"] == "data/raw/site.dvc"
    names = " ".join(str(p.relative_to(root)) for p in pulled) + done.stdout + done.stderr
    for study in studies:
        for value in ("patient_id", "patient_name", "accession", "study_uid", "series_uid"):
            assert study[value].split("^")[0] not in names, value

    again = json.loads(medimg(root, "pacs", "pull", "site", "--modality", "CT").stdout)
    assert sorted(r["status"] for r in again["studies"]) == ["already pulled"] * 2 + ["pulled"]


def test_predict_send_stores_an_sr_the_pacs_gives_back_stating_the_result(site, pacs_env, tmp_path):
    root, studies = site
    bundle = mean_classifier(tmp_path / "bundle")
    series = next(p.parent for p in (root / "data/raw/site").rglob("*.dcm"))
    done = medimg(
        root, "predict", str(series), "--model", str(bundle), "--out", str(tmp_path), "--send"
    )
    [result] = json.loads(done.stdout)
    assert result["sent"] == "stored"
    stored = pacs_env.file(result["dicom_sop_instance_uid"])
    (tmp_path / "back.dcm").write_bytes(stored)
    sr = hd.sr.srread(tmp_path / "back.dcm")
    source = pydicom.dcmread(next(series.glob("*.dcm")))
    study = next(s for s in studies if s["study_uid"] == source.StudyInstanceUID)
    assert sr.StudyInstanceUID == study["study_uid"] and sr.PatientID == study["patient_id"]
    items = {
        i.ConceptNameCodeSequence[0].CodeMeaning: i
        for i in sr.ContentSequence[-1].ContentSequence[0].ContentSequence
    }
    probability = float(items["Probability"].MeasuredValueSequence[0].NumericValue)
    assert probability == pytest.approx(result["probabilities"]["present"], abs=1e-6)
    assert probability == pytest.approx(expected_probability(study["hu"]), abs=1e-5)
    decision = items["Nodule"].ConceptCodeSequence[0].CodeMeaning
    assert decision == ("Present" if result["prediction"] == "present" else "Absent")

    resent = json.loads(
        medimg(
            root,
            "predict",
            str(series),
            "--model",
            str(bundle),
            "--out",
            str(tmp_path / "2"),
            "--send",
        ).stdout
    )
    assert resent[0]["sent"] == "already on the PACS"
    assert (
        len([i for i in pacs_env.instances("SR") if i["StudyInstanceUID"] == study["study_uid"]])
        == 1
    )


def test_a_seg_sent_to_the_pacs_reads_back_onto_the_source_as_the_nifti_mask(
    site, pacs_env, tmp_path
):
    root, _ = site
    bundle = threshold_segmenter(tmp_path / "bundle", target_shape=(12, 24, 24))
    series = next(p.parent for p in (root / "data/raw/site").rglob("*.dcm"))
    done = medimg(
        root, "predict", str(series), "--model", str(bundle), "--out", str(tmp_path), "--send"
    )
    [result] = json.loads(done.stdout)
    (tmp_path / "back.dcm").write_bytes(pacs_env.file(result["dicom_sop_instance_uid"]))
    assert_seg_lies_on_the_mask(tmp_path / "back.dcm", list(series.glob("*.dcm")), result["mask"])
    seg = hd.seg.segread(tmp_path / "back.dcm")
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Liver"


def test_wrong_credentials_fail_with_one_clear_line_and_no_traceback(site, pacs_env, monkeypatch):
    root, studies = site
    monkeypatch.setenv("MEDIMG_PACS_PASSWORD", "wrong")
    done = medimg(root, "pacs", "pull", "other", "--modality", "CT", check=False)
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr and "Traceback" not in done.stderr
    assert not (root / "data/raw/other").exists()
    monkeypatch.delenv("MEDIMG_PACS_PASSWORD")
    done = medimg(root, "pacs", "pull", "other", "--modality", "CT", check=False)
    assert done.returncode == 1 and "MEDIMG_PACS_PASSWORD is not set" in done.stderr


def test_pacs_send_stores_a_folder_once(site, pacs_env, tmp_path):
    root, _ = site
    study = write_study(tmp_path / "new", 9, bright=True)
    before = len(pacs_env.instances())
    first = json.loads(medimg(root, "pacs", "send", str(tmp_path / "new")).stdout)
    again = json.loads(medimg(root, "pacs", "send", str(tmp_path / "new")).stdout)
    assert first == {"files": 12, "stored": 12}
    assert again == {"files": 12, "already on the PACS": 12}
    assert len(pacs_env.instances()) == before + 12
    assert study["accession"] not in first.__repr__() + again.__repr__()
