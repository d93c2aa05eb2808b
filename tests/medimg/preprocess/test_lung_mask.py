import numpy as np

from medimg.demo.ct_phantom import PhantomGeometry, make_chest_ct
from medimg.preprocess.transforms.masks import bounding_box, lung_mask


def test_lung_mask_finds_both_lungs_with_the_nodule_inside_and_no_outside_air():
    rng = np.random.default_rng(0)
    hu, nodule = make_chest_ct(
        rng,
        PhantomGeometry(slices=32, matrix=64, pixel_spacing_mm=5.0, slice_spacing_mm=5.0),
        nodule_diameter_mm=20.0,
    )
    lungs = lung_mask(hu)
    assert (
        nodule.sum() > 0 and lungs[nodule.astype(bool)].all()
    )  # holes filled: the nodule is inside
    assert not lungs[hu < -990].any() or lungs[:, 0, :].sum() == 0  # outside air is dropped
    assert not lungs[:, :, 0].any() and not lungs[:, 0, :].any()
    middle = lungs[16]
    left, right = middle[:, :32].sum(), middle[:, 32:].sum()
    assert left > 50 and right > 50


def test_bounding_box_with_margin_is_clipped_to_the_array():
    mask = np.zeros((5, 6, 7), dtype=bool)
    mask[0, 2:4, 6] = True
    assert bounding_box(mask, margin=2) == (slice(0, 3), slice(0, 6), slice(4, 7))
    assert bounding_box(np.zeros((2, 2, 2), dtype=bool)) is None
