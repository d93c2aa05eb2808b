import numpy as np
import pytest
import torch

from medimg.config.schema import WINDOW_PRESETS
from medimg.preprocess.transforms.intensity import window_channels


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_each_window_becomes_a_channel_with_its_bounds_at_0_and_1(to):
    lung, mediastinum = WINDOW_PRESETS["lung"], WINDOW_PRESETS["mediastinum"]
    bounds = [(level - width / 2, level + width / 2) for level, width in (lung, mediastinum)]
    hu = to(np.array([[-1000.0, 400.0], [-160.0, 240.0]], dtype=np.float32))
    out = window_channels(hu, bounds)
    assert tuple(out.shape) == (2, 2, 2)
    np.testing.assert_allclose(np.asarray(out[0]), [[0.0, 1.0], [0.6, 0.8857143]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(out[1]), [[0.0, 1.0], [0.0, 1.0]], atol=1e-6)
