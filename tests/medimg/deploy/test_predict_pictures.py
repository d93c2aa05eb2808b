"""`medimg predict` on a 2D picture with a 2D classifier bundle, with torch import blocked."""

import json

import numpy as np
import SimpleITK as sitk
import torch

from medimg.config.schema import ModelParams, PreprocessParams
from medimg.deploy.bundle import write_bundle
from medimg.export.onnx_model import export_onnx
from medimg.models import build_model
from tests.bundles import bundle_spec
from tests.conftest import predict_without_torch


def test_a_photo_is_preprocessed_as_in_training_and_classified_without_torch(tmp_path):
    torch.manual_seed(0)
    model = build_model(
        ModelParams(name="mobilenet_v3_small", in_channels=3, head_hidden=8, num_classes=3)
    ).eval()
    recipe = PreprocessParams(photo={"size": [64, 64]})
    bundle = tmp_path / "artifacts"
    export_onnx(model, torch.rand(1, 3, 64, 64), bundle / "model.onnx", 18)
    spec = bundle_spec("classification", 2, ["0", "1", "2"], (3, 64, 64), ndim=2)
    write_bundle(
        spec.model_copy(
            update={"model": "mobilenet_v3_small", "preprocess": recipe, "thresholds": {}}
        ),
        bundle,
    )
    yy, xx = np.mgrid[:120, :120]
    photo = np.zeros((120, 120, 3), np.uint8)
    photo[(yy - 60) ** 2 + (xx - 60) ** 2 < 50**2] = (180, 90, 40)  # a fundus-like disc on black
    sitk.WriteImage(sitk.GetImageFromArray(photo, isVector=True), str(tmp_path / "eye.png"))

    proc = predict_without_torch(tmp_path / "eye.png", bundle)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    from medimg.io.pictures import read_picture_file
    from medimg.preprocess.recipes import preprocess_picture

    expected = torch.softmax(
        model(
            torch.from_numpy(
                preprocess_picture(read_picture_file(tmp_path / "eye.png"), recipe).tensor[None]
            )
        ),
        1,
    )[0]
    got = [result["probabilities"][n] for n in ("0", "1", "2")]
    np.testing.assert_allclose(got, expected.detach().numpy(), atol=1e-5)
    assert result["prediction"] == str(int(expected.argmax())) and result["threshold"] is None


def test_a_2d_segmentation_mask_comes_back_at_the_pictures_size(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelParams(name="unet2d", width=4)).eval()
    bundle = tmp_path / "artifacts"
    export_onnx(model, torch.rand(1, 1, 64, 64), bundle / "model.onnx", 18)
    spec = bundle_spec("segmentation", 2, ["background", "lesion"], (3, 64, 64), ndim=2)
    write_bundle(
        spec.model_copy(
            update={"model": "unet2d", "preprocess": PreprocessParams(photo={"size": [64, 64]})}
        ),
        bundle,
    )
    grey = (np.random.default_rng(0).random((90, 120)) * 255).astype(np.uint8)  # rows x cols
    sitk.WriteImage(sitk.GetImageFromArray(grey), str(tmp_path / "slice.png"))
    proc = predict_without_torch(tmp_path / "slice.png", bundle, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)[0]
    assert sitk.ReadImage(result["mask"]).GetSize() == (120, 90) and "lesion" in result["area_mm2"]
