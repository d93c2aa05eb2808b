"""The volume and picture recipes: shapes, ranges, and masks that stay on their anatomy."""

import numpy as np
import pytest
import SimpleITK as sitk

from medimg.config.schema import PreprocessParams, WindowParams
from medimg.demo.ct_phantom import PhantomGeometry, make_chest_ct
from medimg.preprocess.recipes import Rejected, preprocess_picture, preprocess_volume


@pytest.fixture(scope="module")
def chest():
    geometry = PhantomGeometry(slices=24, matrix=40, pixel_spacing_mm=8.0, slice_spacing_mm=6.0)
    hu, mask = make_chest_ct(np.random.default_rng(3), geometry, nodule_diameter_mm=30.0)
    image, label = sitk.GetImageFromArray(hu), sitk.GetImageFromArray(mask)
    for item in (image, label):
        item.SetSpacing((8.0, 8.0, 6.0))
        item.SetOrigin((-156.0, -156.0, -69.0))
    return image, label


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessParams(crop="lungs", target_shape=[16, 24, 24]),
        PreprocessParams(
            crop="body", target_shape=[16, 24, 24], spacing=[4.0, 4.0, 4.0], interpolation="bspline"
        ),
        PreprocessParams(
            crop="body", target_shape=[32, 48, 48], spacing=[6.0, 6.0, 6.0], shape_mode="crop_pad"
        ),
    ],
    ids=["lungs-resize", "body-spacing-resize", "body-spacing-crop_pad"],
)
def test_mask_follows_every_geometric_step(chest, spec):
    image, label = chest
    tensor, mask, spacing, grid = preprocess_volume(image, spec, label)
    assert tensor.shape == (1, *spec.target_shape) and mask.shape == tuple(spec.target_shape)
    assert 0 <= tensor.min() and tensor.max() <= 1
    nodule, lung = tensor[0][mask == 1], tensor[0][(mask == 0) & (tensor[0] < 0.2)]
    assert (
        mask.sum() > 0 and nodule.mean() > lung.mean() + 0.3
    )  # the mask sits on the bright nodule
    # the reported spacing keeps physical sizes: the nodule's volume in mm³ survives the resizing
    if spec.shape_mode == "crop_pad":
        assert spacing == tuple(spec.spacing)
    original_mm3 = sitk.GetArrayFromImage(label).sum() * np.prod(label.GetSpacing())
    assert mask.sum() * np.prod(spacing) == pytest.approx(original_mm3, rel=0.35)
    # the grid maps the preprocessed mask back onto the original scan: the nodule lands where it was
    placed = sitk.GetImageFromArray(mask)
    placed.CopyInformation(grid)
    back = sitk.GetArrayFromImage(
        sitk.Resample(placed, label, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    )
    truth = sitk.GetArrayFromImage(label) > 0
    assert 2 * (back.astype(bool) & truth).sum() / (back.astype(bool).sum() + truth.sum()) > 0.7


def test_extra_windows_are_channels_and_zscore_is_one_channel(chest):
    image, _ = chest
    spec = PreprocessParams(
        crop="body", target_shape=[8, 16, 16], extra_windows=[WindowParams(preset="mediastinum")]
    )
    assert preprocess_volume(image, spec)[0].shape == (2, 8, 16, 16)
    zscored = preprocess_volume(image, spec.model_copy(update={"normalize": "percentile_zscore"}))[
        0
    ]
    assert zscored.shape == (1, 8, 16, 16) and abs(float(zscored.mean())) < 0.5


def _photo():
    yy, xx = np.mgrid[:96, :96]
    rgb = np.zeros((96, 96, 3), np.uint8)
    rgb[(yy - 48) ** 2 + (xx - 48) ** 2 < 40**2] = (160, 70, 30)
    rgb[30:40, 50:60] = (200, 200, 120)
    return sitk.GetImageFromArray(rgb, isVector=True)


def test_picture_recipe_resizes_image_and_mask_together():
    spec = PreprocessParams(photo={"size": [48, 48]})
    mask = np.zeros((96, 96), np.uint8)
    mask[30:40, 50:60] = 1
    tensor, small_mask, _, _ = preprocess_picture(_photo(), spec, sitk.GetImageFromArray(mask))
    assert tensor.shape == (3, 48, 48) and 0 <= tensor.min() and tensor.max() <= 1
    assert (
        small_mask.shape == (48, 48) and small_mask[15:20, 25:30].all() and small_mask.sum() == 25
    )
    normed = preprocess_picture(
        _photo(),
        spec.model_copy(update={"photo": spec.photo.model_copy(update={"imagenet_norm": True})}),
    )[0]
    assert normed.min() < -1.5  # black field minus the ImageNet mean


def test_blank_frames_are_rejected():
    black = sitk.GetImageFromArray(np.zeros((32, 32, 3), np.uint8), isVector=True)
    with pytest.raises(Rejected) as failure:
        preprocess_picture(black, PreprocessParams())
    assert failure.value.code == "blank_frame" and "black" in failure.value.reason


def test_a_multichannel_volume_shares_one_geometry_and_normalises_each_channel():
    rng = np.random.default_rng(3)
    first = sitk.GetImageFromArray(rng.normal(100.0, 20.0, (8, 12, 12)).astype(np.float32))
    second = sitk.GetImageFromArray(rng.normal(-5.0, 1.0, (8, 12, 12)).astype(np.float32))
    for channel in (first, second):
        channel.SetSpacing((2.0, 2.0, 4.0))
    label = sitk.GetImageFromArray(np.pad(np.ones((2, 4, 4), np.uint8), ((3, 3), (4, 4), (4, 4))))
    label.CopyInformation(first)
    spec = PreprocessParams(normalize="percentile_zscore", crop="none", target_shape=[8, 12, 12])
    tensor, mask, spacing, _ = preprocess_volume(sitk.Compose([first, second]), spec, label)
    assert tensor.shape == (2, 8, 12, 12) and mask.shape == (8, 12, 12) and mask.sum() == 32
    alone = [preprocess_volume(channel, spec).tensor[0] for channel in (first, second)]
    assert np.allclose(tensor[0], alone[0]) and np.allclose(tensor[1], alone[1])
    assert np.allclose(tensor.reshape(2, -1).mean(1), 0.0, atol=0.05) and spacing == (4.0, 2.0, 2.0)
