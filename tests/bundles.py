"""Exported bundles built in code in a second, for tests of what happens after export (DICOM results,
PACS round trips): the same typed bundle.json predict reads, with an ONNX graph whose answer is known.

- ``threshold_segmenter``: a 2D model applied slice by slice; class 1 wherever the windowed
  intensity exceeds 0.5 (abdomen window: above 60 HU, enhanced soft tissue and brighter).
- ``mean_classifier``: a 3D model; P(present) rises with the mean windowed intensity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from medimg.config.schema import GeometryPolicy, PreprocessParams
from medimg.deploy.bundle import Bundle, write_bundle


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def bundle_spec(
    task: str, model_ndim: int, class_names: list[str], target_shape, classes=(), ndim: int = 3
) -> Bundle:
    preprocess = PreprocessParams(
        normalize="window",
        window={"preset": "abdomen"},
        crop="none",
        target_shape=list(target_shape),
        photo={"size": [64, 64]},
    )
    return Bundle(
        medimg_version="0.1.0",
        task=task,
        ndim=ndim,
        model_ndim=model_ndim,
        patch=None,
        overlap=None,
        model=f"test-{task}",
        class_names=class_names,
        positive_threshold=0.5,
        temperature=1.0,
        thresholds={"ort_fp32": 0.5},
        input_name="input",
        input_shape=[1, 64, 64] if ndim == 2 else [1, *target_shape],
        models={"ort_fp32": "model.onnx"},
        backends={"ort_fp32": "onnxruntime"},
        int8_target="avx2",
        int8_validated_on="avx2",
        preprocess=preprocess,
        ingest_geometry=GeometryPolicy(),
        dicom={"manufacturer": "medimg-tests", "classes": list(classes)},
    )


LIVER = {
    "name": "liver",
    "type": {"code": "10200004", "scheme": "SCT", "meaning": "Liver"},
    "category": {"code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"},
}
NODULE = {
    "name": "present",
    "type": {"code": "27925004", "scheme": "SCT", "meaning": "Nodule"},
    "category": {
        "code": "49755003",
        "scheme": "SCT",
        "meaning": "Morphologically Abnormal Structure",
    },
}


def threshold_segmenter(folder: Path, target_shape=(3, 64, 64)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, "y", "x"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2, "y", "x"])
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Sub", ["input", "half"], ["above"]),
        helper.make_node("Neg", ["above"], ["below"]),
        helper.make_node("Concat", ["below", "above"], ["logits"], axis=1),
    ]
    _save(helper.make_graph(nodes, "threshold", [x], [y], [half]), folder / "model.onnx")
    write_bundle(
        bundle_spec("segmentation", 2, ["background", "liver"], target_shape, [LIVER]), folder
    )
    return folder


def mean_classifier(folder: Path, cut: float = 0.3, target_shape=(16, 16, 16)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, "z", "y", "x"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])
    inits = [
        helper.make_tensor("axes", TensorProto.INT64, [4], [1, 2, 3, 4]),
        helper.make_tensor("cut", TensorProto.FLOAT, [], [cut]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [20.0]),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "axes_1"], ["mean_1"]),
        helper.make_node("Sub", ["mean_1", "cut"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["score"]),
        helper.make_node("Neg", ["score"], ["negative"]),
        helper.make_node("Concat", ["negative", "score"], ["logits"], axis=1),
    ]
    inits.append(helper.make_tensor("axes_1", TensorProto.INT64, [1], [1]))
    _save(helper.make_graph(nodes, "mean", [x], [y], inits), folder / "model.onnx")
    write_bundle(
        bundle_spec("classification", 3, ["absent", "present"], target_shape, [NODULE]), folder
    )
    return folder


def picture_classifier(folder: Path) -> Path:
    """A 2D classifier of radiographs: P(pneumonia) rises with the mean normalised intensity."""
    folder.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, "y", "x"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])
    inits = [
        helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3]),
        helper.make_tensor("axes_1", TensorProto.INT64, [1], [1]),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "axes_1"], ["score"]),
        helper.make_node("Neg", ["score"], ["negative"]),
        helper.make_node("Concat", ["negative", "score"], ["logits"], axis=1),
    ]
    _save(helper.make_graph(nodes, "picture", [x], [y], inits), folder / "model.onnx")
    write_bundle(
        bundle_spec("classification", 2, ["normal", "pneumonia"], (3, 64, 64), ndim=2), folder
    )
    return folder


def expected_probability(hu: np.ndarray, cut: float = 0.3) -> float:
    """What ``mean_classifier`` says of a volume of ``hu`` values (abdomen window, no crop)."""
    windowed = np.clip((hu + 140.0) / 400.0, 0, 1)  # abdomen window: level 60, width 400
    return float(1 / (1 + np.exp(-2 * 20.0 * (windowed.mean() - cut))))


def write_study(folder: Path, index: int, bright: bool, shape=(12, 24, 24)) -> dict:
    """One small CT study (one series, a file per slice) of a fake but identifiable patient: a
    bright study (120 HU) or a dark one (air-filled, -700 HU). Returns its identifiers."""
    from pydicom.uid import generate_uid

    from medimg.demo.dicom_series import PatientIdentity, StudyInfo, write_ct_series

    folder.mkdir(parents=True, exist_ok=True)
    hu = np.full(shape, 120.0 if bright else -700.0, np.float32)
    patient = PatientIdentity(f"CANARY^PATIENT{index:02d}", f"CANARYID{index:04d}", "19450101", "F")
    study = StudyInfo(
        generate_uid(entropy_srcs=["study", str(index)]),
        f"CANARYACC{index:04d}",
        "20260102",
        "CANARY HOSPITAL",
        "TestVendor",
    )
    series_uid = generate_uid(entropy_srcs=["series", str(index)])
    files = [folder / f"slice{k:03d}.dcm" for k in range(shape[0])]
    write_ct_series(hu, 2.0, 3.0, patient, study, series_uid, files, f"study{index}")
    return {
        "patient_id": patient.patient_id,
        "patient_name": patient.name,
        "accession": study.accession_number,
        "study_uid": study.study_uid,
        "series_uid": series_uid,
        "hu": hu,
    }


def assert_seg_lies_on_the_mask(seg_path, source_files, mask_path) -> np.ndarray:
    """Read a SEG back (highdicom) frame by source instance and compare each frame with the slice of
    predict's NIfTI mask at that instance's position; returns the frames."""
    import highdicom as hd
    import pydicom
    import SimpleITK as sitk

    seg = hd.seg.segread(seg_path)
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in source_files]
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[s.SOPInstanceUID for s in sources], combine_segments=True
    )
    mask = sitk.ReadImage(str(mask_path))
    volume = sitk.GetArrayFromImage(mask)
    for source, frame in zip(sources, frames):
        index = mask.TransformPhysicalPointToIndex([float(v) for v in source.ImagePositionPatient])
        assert index[:2] == (0, 0)  # the slice's first pixel is the mask's: the grids coincide
        np.testing.assert_array_equal(frame, volume[index[2]])
    return frames
