"""Torch-free inference on an exported bundle: the deployment side of `medimg predict`.

It reads a DICOM series folder, a NIfTI volume, or a 2D picture (PNG/JPEG or a single-frame DICOM
such as a radiograph), replays the training recipe from bundle.json (the same functions the
preprocess step used) and runs the chosen variant on onnxruntime or OpenVINO. Segmentation masks are written as NIfTI in the
input's original geometry; given DICOM, predict also writes the answer as DICOM a PACS files with
the source study (a SEG for segmentations, an SR for classifications).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medimg.config.variants import REFERENCE, VARIANTS
from medimg.deploy.bundle import Bundle, BundleError, load_bundle_spec
from medimg.deploy.cpu import int8_warning
from medimg.deploy.dicom_results import (
    Algorithm,
    labels_on_source_slices,
    model_version,
    read_sources,
)
from medimg.deploy.dicom_seg import segmentation_object
from medimg.deploy.dicom_sr import classification_report
from medimg.deploy.postprocess import postprocess
from medimg.deploy.runners import Runner, open_runner
from medimg.deploy.sliding_window import segment_volume
from medimg.ingest.dicom.convert import read_folder_series
from medimg.ingest.dicom.headers import SliceHeader
from medimg.io import atomic
from medimg.io.pictures import PICTURE_SUFFIXES
from medimg.io.volume_files import is_volume_file
from medimg.metrics.probabilities import softmax
from medimg.preprocess.recipes import preprocess_picture, preprocess_volume


def load_bundle(folder: Path, variant: str = REFERENCE) -> tuple[Bundle, Runner]:
    """The bundle's spec and a runner for ``variant``; a clear error for anything missing."""
    spec = load_bundle_spec(folder)
    if variant not in spec.models:
        raise BundleError(f"--variant {variant}: this bundle has {sorted(spec.models)}")
    model_path = folder / spec.models[variant]
    if not model_path.exists():
        raise BundleError(f"{model_path}: missing; re-run the export step")
    if VARIANTS[variant].backend == "openvino" and importlib.util.find_spec("openvino") is None:
        raise BundleError(
            f"--variant {variant} runs on OpenVINO, which is not installed: "
            "pip install -e '.[openvino]', or use an ort_ variant"
        )
    return spec, open_runner(folder, variant)


def cpu_warning(spec: Bundle, variant: str) -> str | None:
    """Why an INT8 variant may not behave here as it did where the export step validated it."""
    if VARIANTS[variant].precision != "int8":
        return None
    return int8_warning(spec.int8_target, spec.int8_validated_on)


def read_inputs(source: Path, spec: Bundle) -> list[tuple[sitk.Image, list[SliceHeader]]]:
    """The images to predict on, each with the DICOM frames it came from: one per usable series of
    a DICOM folder (converted as ingest does), a NIfTI volume, or one 2D picture."""
    policy = spec.ingest_geometry
    if spec.ndim == 2:
        if source.is_file() and source.suffix.lower() in PICTURE_SUFFIXES:
            from medimg.io.pictures import read_picture_file

            return [(read_picture_file(source), [])]
        if source.is_file():
            from medimg.ingest.dicom.convert import read_dicom_picture
            from medimg.ingest.dicom.headers import read_header

            headers = read_header(source)
            if not isinstance(headers, list) or not headers:
                raise BundleError(
                    f"{source}: not a readable DICOM picture ({getattr(headers, 'reason', 'no frames')})"
                )
            return [(read_dicom_picture(headers[0]), headers[:1])]
        raise BundleError(
            f"{source}: this model takes 2D pictures; give a PNG/JPEG or a single-frame DICOM file"
        )
    if source.is_file() and is_volume_file(source):
        return [(sitk.ReadImage(str(source)), [])]
    if not source.is_dir():
        raise BundleError(f"{source}: expected a DICOM series folder or a .nii/.nii.gz volume")
    series = read_folder_series(source, policy)
    if not series:
        raise BundleError(f"{source}: no readable 3D DICOM series found")
    return series


def mask_in_original_geometry(
    labels: np.ndarray, grid: sitk.Image, original: sitk.Image
) -> sitk.Image:
    """Place the predicted label map on the preprocessed grid, then resample it (nearest) onto the input."""
    placed = sitk.GetImageFromArray(labels.astype(np.uint8))
    placed.CopyInformation(grid)
    return sitk.Resample(
        placed, original, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )


def picture_mask(labels: np.ndarray, picture: sitk.Image) -> sitk.Image:
    """A 2D label map resized (nearest) back to the picture's pixel grid, with its spacing."""
    from medimg.preprocess.transforms.photo import resize

    height, width = picture.GetSize()[1], picture.GetSize()[0]
    mask = sitk.GetImageFromArray(resize(labels.astype(np.uint8), (height, width), nearest=True))
    mask.SetSpacing(picture.GetSpacing())
    mask.SetOrigin(picture.GetOrigin())
    return mask


def predict(
    source: Path, bundle: Path, out_dir: Path | None = None, variant: str = REFERENCE
) -> list[dict]:
    spec, run = load_bundle(bundle, variant)
    recipe = spec.preprocess
    names = spec.class_names
    segment = spec.task == "segmentation"
    warning = cpu_warning(spec, variant)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    results = []
    algorithm = None  # who made a DICOM result: hashes the model, so only once there is one
    for index, (image, frames) in enumerate(read_inputs(source, spec)):
        prepared = (preprocess_picture if spec.ndim == 2 else preprocess_volume)(image, recipe)
        logits = (
            segment_volume(
                run,
                prepared.tensor[None],
                spec.model_ndim,
                spec.patch,
                spec.overlap or 0.5,
            )
            if segment
            else run(prepared.tensor[None])
        )
        result: dict = {
            "item_index": index,
            "size_xyz": list(image.GetSize()),
            "model": spec.model,
            "variant": variant,
        }
        if warning:
            result["cpu_warning"] = warning
        if segment:
            labels = postprocess(np.asarray(logits[0].argmax(0)), spec.largest_component)
            mask: sitk.Image = (
                mask_in_original_geometry(labels, prepared.grid, image)
                if prepared.grid is not None
                else picture_mask(labels, image)
            )
            target = (out_dir or Path(".")) / f"mask_{index}.nii.gz"
            atomic.write_with(target, lambda tmp: sitk.WriteImage(mask, str(tmp)), suffix=".nii.gz")
            counts = np.bincount(sitk.GetArrayViewFromImage(mask).ravel(), minlength=len(names))[1:]
            cell = float(
                np.prod(image.GetSpacing())
            )  # mm³ per voxel, or mm² per pixel for pictures
            key, scale = (
                ("volume_ml", cell / 1000) if image.GetDimension() == 3 else ("area_mm2", cell)
            )
            result.update(
                {
                    "mask": str(target),
                    key: {n: round(float(c) * scale, 3) for n, c in zip(names[1:], counts)},
                }
            )
        else:
            probs = softmax(logits, spec.temperature)[0]  # calibrated on val
            # each variant's own operating point, chosen on val at export (older bundles: one for all)
            threshold = spec.threshold(variant)
            if len(names) == 2:
                label = names[1] if probs[1] >= threshold else names[0]
            else:
                label, threshold = names[int(probs.argmax())], None
            result.update(
                probabilities={n: round(float(p), 6) for n, p in zip(names, probs)},
                prediction=label,
                threshold=threshold,
            )
        if frames:
            algorithm = algorithm or result_algorithm(bundle, spec, variant)
            result.update(
                write_dicom_result(
                    frames,
                    result,
                    mask if segment else None,
                    spec,
                    algorithm,
                    out_dir or Path("."),
                    index,
                )
            )
        results.append(result)
    return results


def result_algorithm(bundle: Path, spec: Bundle, variant: str) -> Algorithm:

    return Algorithm(
        name=f"medimg {spec.model} {variant}",
        version=model_version(bundle, spec),
        software=spec.medimg_version,
        manufacturer=spec.dicom.manufacturer,
    )


def write_dicom_result(
    frames: list[SliceHeader],
    result: dict,
    mask: sitk.Image | None,
    spec: Bundle,
    algorithm: Algorithm,
    out_dir: Path,
    index: int,
) -> dict:
    """The prediction as DICOM beside the other outputs: seg_<n>.dcm (a mask) or sr_<n>.dcm.

    Returns the keys to add to the result: ``dicom`` (the file), or ``dicom_skipped`` with the
    reason when the source cannot carry one (a SEG on a multi-frame source is not written yet)."""
    from pydicom import dcmwrite

    if any(frame.frame is not None for frame in frames):
        return {
            "dicom_skipped": "the source is a multi-frame DICOM; only classic series get a SEG/SR"
        }
    sources = read_sources([frame.path for frame in frames])
    if mask is None:
        dataset = classification_report(
            sources,
            result["probabilities"],
            result["prediction"],
            result["threshold"],
            spec,
            algorithm,
        )
        target = out_dir / f"sr_{index}.dcm"
    else:
        labels = (
            labels_on_source_slices(mask, sources)
            if mask.GetDimension() == 3
            else sitk.GetArrayFromImage(mask)[None]
        )
        dataset = segmentation_object(sources, labels, spec, algorithm)
        target = out_dir / f"seg_{index}.dcm"
    atomic.write_with(
        target, lambda tmp: dcmwrite(tmp, dataset, enforce_file_format=True), suffix=".dcm"
    )
    return {"dicom": str(target), "dicom_sop_instance_uid": str(dataset.SOPInstanceUID)}
