import numpy as np
import SimpleITK as sitk

from medimg.preprocess.transforms.geometry import resample_to_shape


def test_resampling_keeps_the_physical_extent_and_world_positions():
    image = sitk.GetImageFromArray(np.zeros((20, 40, 40), dtype=np.float32))
    image.SetSpacing((2.0, 2.0, 5.0))
    image.SetOrigin((-40.0, -30.0, 10.0))
    array = sitk.GetArrayFromImage(image)
    array[10, 20, 30] = 1000.0  # a bright point at a known world position
    image2 = sitk.GetImageFromArray(array)
    image2.CopyInformation(image)
    out = resample_to_shape(image2, [10, 20, 20])
    assert out.GetSize() == (20, 20, 10)
    np.testing.assert_allclose(out.GetSpacing(), (4.0, 4.0, 10.0))
    # the field of view's outer edge is unchanged: origin − spacing/2 stays put
    edge_in = np.array(image.GetOrigin()) - np.array(image.GetSpacing()) / 2
    edge_out = np.array(out.GetOrigin()) - np.array(out.GetSpacing()) / 2
    np.testing.assert_allclose(edge_in, edge_out)
    peak = np.unravel_index(np.argmax(sitk.GetArrayFromImage(out)), (10, 20, 20))
    world_in = image2.TransformIndexToPhysicalPoint((30, 20, 10))
    world_out = out.TransformIndexToPhysicalPoint(tuple(int(i) for i in reversed(peak)))
    assert np.allclose(world_in, world_out, atol=5.0)  # within one output voxel


def test_antialiasing_keeps_a_small_bright_spot_that_plain_interpolation_loses():
    array = np.zeros((32, 32, 32), dtype=np.float32)
    array[15:17, 15:17, 15:17] = 1.0  # between output voxel centres, as a small nodule often is
    image = sitk.GetImageFromArray(array)
    plain = sitk.GetArrayFromImage(resample_to_shape(image, [8, 8, 8], antialias=False))
    smooth = sitk.GetArrayFromImage(resample_to_shape(image, [8, 8, 8]))
    assert plain.max() == 0.0
    assert smooth.max() > 0.01
    assert abs(smooth.sum() * 64 - array.sum()) / array.sum() < 0.2  # the spot's mass is kept
