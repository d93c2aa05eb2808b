"""medimg predict answers DICOM with DICOM: a SEG whose frames lie on the source slices (checked on a
real GE CT against the NIfTI mask predict writes, and by dciodvfy) and a TID 1500 SR that states the
finding, its probability, the threshold and the decision."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
import SimpleITK as sitk

from medimg.deploy.predict import predict
from tests.bundles import (
    assert_seg_lies_on_the_mask,
    expected_probability,
    mean_classifier,
    picture_classifier,
    threshold_segmenter,
    write_study,
)

REPO = Path(__file__).resolve().parents[3]
LIVER_CT = REPO.parent / "shared/corpora/real_small/dcmqi_ct_liver/ct-3slice"
needs_corpus = pytest.mark.skipif(
    not LIVER_CT.is_dir(), reason="needs ../shared/corpora (absent in a user's clone)"
)


def dciodvfy_errors(path: Path) -> list[str]:
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@needs_corpus
def test_a_seg_on_a_real_ct_reads_back_as_the_nifti_mask_slice_for_slice(tmp_path):
    bundle = threshold_segmenter(tmp_path / "bundle")
    [result] = predict(LIVER_CT, bundle, tmp_path / "out")
    files = sorted(LIVER_CT.glob("*.dcm"))
    frames = assert_seg_lies_on_the_mask(result["dicom"], files, result["mask"])
    assert 0 < frames.mean() < 1  # the threshold model found tissue and air: a real comparison

    seg = hd.seg.segread(result["dicom"])
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    assert seg.SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence} == {
        s.SOPInstanceUID for s in sources
    }
    [segment] = seg.SegmentSequence
    assert segment.SegmentLabel == "liver"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "medimg test-segmentation ort_fp32"
    assert algorithm.AlgorithmVersion.startswith("sha256:")
    assert seg.PatientID == sources[0].PatientID  # it goes back to this patient's record


@needs_corpus
@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools is not installed")
def test_dciodvfy_finds_no_error_in_the_seg_or_the_sr(tmp_path):
    [seg] = predict(LIVER_CT, threshold_segmenter(tmp_path / "seg"), tmp_path / "out")
    [sr] = predict(LIVER_CT, mean_classifier(tmp_path / "cls"), tmp_path / "out")
    for path in (seg["dicom"], sr["dicom"]):
        done = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
        assert done.stdout + done.stderr, "dciodvfy printed nothing"
        assert dciodvfy_errors(Path(path)) == [], done.stderr


@pytest.mark.parametrize("bright", [True, False])
def test_the_sr_states_finding_probability_threshold_and_decision(tmp_path, bright):
    identity = write_study(tmp_path / "study", 1, bright)
    [result] = predict(tmp_path / "study", mean_classifier(tmp_path / "cls"), tmp_path / "out")
    expected = expected_probability(identity["hu"])
    assert result["probabilities"]["present"] == pytest.approx(expected, abs=1e-5)

    sr = hd.sr.srread(result["dicom"])
    items = {
        item.ConceptNameCodeSequence[0].CodeMeaning: item
        for item in sr.ContentSequence[-1].ContentSequence[0].ContentSequence
    }
    assert float(items["Probability"].MeasuredValueSequence[0].NumericValue) == pytest.approx(
        expected, abs=1e-5
    )
    assert float(items["Threshold Value"].MeasuredValueSequence[0].NumericValue) == 0.5
    assert items["Finding"].ConceptCodeSequence[0].CodeMeaning == "Nodule"
    decision = items["Nodule"].ConceptCodeSequence[0].CodeMeaning
    assert (
        decision
        == ("Present" if bright else "Absent")
        == ("Present" if result["prediction"] == "present" else "Absent")
    )
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == identity["study_uid"]
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == identity["series_uid"]
    assert sr.PatientID == identity["patient_id"]


def test_the_same_model_on_the_same_series_gives_the_same_uids(tmp_path):
    write_study(tmp_path / "study", 2, True)
    bundle = mean_classifier(tmp_path / "cls")
    first = predict(tmp_path / "study", bundle, tmp_path / "a")[0]
    again = predict(tmp_path / "study", bundle, tmp_path / "b")[0]
    assert first["dicom_sop_instance_uid"] == again["dicom_sop_instance_uid"]
    other = mean_classifier(tmp_path / "other", cut=0.4)  # another model: another result object
    assert (
        predict(tmp_path / "study", other, tmp_path / "c")[0]["dicom_sop_instance_uid"]
        != (first["dicom_sop_instance_uid"])
    )


def test_nifti_input_gets_no_dicom_result(tmp_path):
    identity = write_study(tmp_path / "study", 3, True)
    volume = tmp_path / "volume.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(identity["hu"]), str(volume))
    [result] = predict(volume, mean_classifier(tmp_path / "cls"), tmp_path / "out")
    assert "dicom" not in result and not list((tmp_path / "out").glob("*.dcm"))


def test_highdicom_warnings_quoting_the_patients_name_are_not_emitted(tmp_path):
    from highdicom.valuerep import check_person_name

    with pytest.warns(UserWarning, match="CANARYSINGLE"):  # highdicom does quote such a name
        check_person_name("CANARYSINGLE")
    write_study(tmp_path / "study", 4, True)
    for path in (tmp_path / "study").glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.PatientName = "CANARYSINGLE"  # one component: highdicom warns, quoting it
        ds.save_as(path)
    # recorded here, not left to pytest's own capture, which would keep them off stderr anyway
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict(tmp_path / "study", mean_classifier(tmp_path / "cls"), tmp_path / "out")
    assert [str(w.message) for w in caught if "CANARYSINGLE" in str(w.message)] == []
    assert pydicom.dcmread(tmp_path / "out/sr_0.dcm").PatientName == "CANARYSINGLE"


def test_a_single_dicom_picture_gets_an_sr_that_references_it(tmp_path):
    from pydicom.data import get_testdata_file

    picture = Path(get_testdata_file("CT_small.dcm"))  # pydicom's own file, read as one picture
    [result] = predict(picture, picture_classifier(tmp_path / "xray"), tmp_path / "out")
    sr = hd.sr.srread(result["dicom"])
    source = pydicom.dcmread(picture, stop_before_pixels=True)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert result["prediction"] in ("normal", "pneumonia")
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(Path(result["dicom"])) == []
