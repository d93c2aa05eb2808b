import numpy as np
import pytest
import torch

from medimg.preprocess.transforms.intensity import window_ct


@pytest.mark.parametrize("as_array", [np.array, torch.tensor])
def test_window_maps_bounds_to_0_and_1_and_clips(as_array):
    hu = as_array([-2000.0, -1000.0, -300.0, 400.0, 3000.0])
    out = window_ct(hu, -1000.0, 400.0)
    assert type(out) is type(hu)
    np.testing.assert_allclose(np.asarray(out), [0.0, 0.0, 0.5, 1.0, 1.0])


def test_window_rejects_empty_width():
    with pytest.raises(ValueError, match="must exceed"):
        window_ct(np.zeros(3), 40.0, 40.0)
