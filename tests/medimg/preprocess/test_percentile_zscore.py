import numpy as np
import pytest
import torch

from medimg.preprocess.transforms.intensity import percentile_zscore


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_outliers_are_clipped_then_values_standardised(to):
    values = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    values[-1] = 1e6  # a metal artefact
    out = np.asarray(percentile_zscore(to(values), 0.5, 99.5), dtype=np.float64)
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1.0) < 1e-3
    assert out.max() < 2.0  # the outlier no longer dominates the scale


def test_numpy_and_torch_agree():
    values = np.random.default_rng(0).normal(100.0, 30.0, size=(8, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(
        percentile_zscore(values), percentile_zscore(torch.from_numpy(values)).numpy(), atol=1e-4
    )


def test_bad_percentiles_are_refused():
    with pytest.raises(ValueError, match="percentiles"):
        percentile_zscore(np.zeros(4), 60, 40)
