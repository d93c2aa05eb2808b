import numpy as np
import SimpleITK as sitk

from medimg.preprocess.transforms.geometry import resample_to_spacing


def test_a_2mm_grid_resampled_to_1mm_keeps_world_positions():
    image = sitk.GetImageFromArray(np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7))
    image.SetSpacing((2.0, 2.0, 2.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    image.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, -1))  # not axis-aligned with the array
    fine = resample_to_spacing(image, [1.0, 1.0, 1.0])
    assert fine.GetSpacing() == (1.0, 1.0, 1.0) and fine.GetSize() == (13, 11, 9)
    assert fine.GetOrigin() == image.GetOrigin() and fine.GetDirection() == image.GetDirection()
    for index in [(0, 0, 0), (3, 2, 1), (6, 5, 4)]:
        world = image.TransformIndexToPhysicalPoint(index)
        fine_index = fine.TransformPhysicalPointToIndex(world)
        assert fine[fine_index] == image[index]  # coarse voxel centres land on fine voxel centres


def test_masks_resampled_nearest_stay_binary_and_aligned():
    values = np.zeros((4, 8, 8), dtype=np.uint8)
    values[1:3, 2:5, 3:6] = 1
    mask = sitk.GetImageFromArray(values)
    mask.SetSpacing((2.0, 2.0, 3.0))
    fine = sitk.GetArrayFromImage(
        resample_to_spacing(mask, [1.5, 1.0, 1.0], sitk.sitkNearestNeighbor)
    )
    assert set(np.unique(fine)) == {0, 1} and fine.dtype == np.uint8
    volume_mm3 = values.sum() * 2 * 2 * 3
    assert abs(fine.sum() * 1.5 - volume_mm3) / volume_mm3 < 0.35
