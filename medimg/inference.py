"""Torch-free inference on an exported bundle: the deployment side of `medimg predict`.

It reads a DICOM series folder or a NIfTI volume, replays the training recipe from
preprocess.json (the same `preprocess_ct` the preprocess step used) and runs onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import SimpleITK as sitk

from medimg.dicom.convert import read_folder_volumes
from medimg.params import GeometryPolicy, PreprocessParams
from medimg.preprocessing import preprocess_ct


class BundleError(ValueError):
    pass


def load_bundle(folder: Path) -> tuple[dict, ort.InferenceSession]:
    spec_path, model_path = folder / "preprocess.json", folder / "model.onnx"
    for required in (spec_path, model_path):
        if not required.exists():
            raise BundleError(f"{required}: missing; point --model at an exported artifacts folder")
    spec = json.loads(spec_path.read_text())
    return spec, ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


def read_volumes(source: Path, policy: GeometryPolicy) -> list[sitk.Image]:
    """One image per usable series in a DICOM folder (converted as ingest does), or a NIfTI volume."""
    if source.is_file() and source.name.endswith((".nii", ".nii.gz")):
        return [sitk.ReadImage(str(source))]
    if not source.is_dir():
        raise BundleError(f"{source}: expected a DICOM series folder or a .nii/.nii.gz volume")
    images = read_folder_volumes(source, policy)
    if not images:
        raise BundleError(f"{source}: no readable 3D DICOM series found")
    return images


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict(source: Path, bundle: Path) -> list[dict]:
    spec, session = load_bundle(bundle)
    recipe = PreprocessParams.model_validate(spec["preprocess"])
    names, threshold = spec["class_names"], spec["positive_threshold"]
    results = []
    policy = GeometryPolicy.model_validate(spec.get("ingest_geometry", {}))
    for index, image in enumerate(read_volumes(source, policy)):
        tensor = preprocess_ct(image, recipe)[None]
        probs = softmax(session.run(None, {spec["input_name"]: tensor})[0])[0]
        positive = float(probs[1]) if len(names) == 2 else None
        label = (names[1] if positive >= threshold else names[0]) if positive is not None else names[int(probs.argmax())]
        results.append({"series_index": index, "size_xyz": list(image.GetSize()),
                        "probabilities": {n: round(float(p), 6) for n, p in zip(names, probs)},
                        "prediction": label, "threshold": threshold})
    return results
