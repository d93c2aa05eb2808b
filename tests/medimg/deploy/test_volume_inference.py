"""Whole-volume inference from slice and patch models, on numpy and torch inputs alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medimg.deploy.sliding_window import (
    segment_volume,
    slice_by_slice,
    sliding_window,
    window_starts,
)


def test_window_starts_cover_the_axis_and_end_at_the_border():
    assert window_starts(48, 32, 0.5) == [0, 16]
    assert window_starts(80, 48, 0.5) == [0, 24, 32]
    assert window_starts(20, 32, 0.5) == [0]
    for size, patch in ((48, 32), (81, 16), (33, 32)):
        starts = window_starts(size, patch, 0.5)
        covered = np.zeros(size, bool)
        for s in starts:
            covered[s : s + patch] = True
        assert covered.all() and starts[-1] + patch == size


def _position_logits(x):
    """A 'model' whose output depends on position inside its input: wrong stitching shows."""
    ramp = x[:, :1] * 0 + (
        np.arange(x.shape[-1]) if isinstance(x, np.ndarray) else torch.arange(x.shape[-1])
    )
    return ramp if isinstance(x, np.ndarray) else ramp.float()


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_a_pointwise_model_gives_the_same_logits_whole_or_windowed(kind):
    volume = np.random.default_rng(0).normal(size=(2, 1, 12, 20, 28)).astype(np.float32)
    data = volume if kind == "numpy" else torch.from_numpy(volume)

    def pointwise(
        x,
    ):  # a 1x1 convolution: two classes, output at a voxel depends on that voxel only
        return (
            x[:, [0, 0]]
            * (np.array([1.0, -2.0]) if kind == "numpy" else torch.tensor([1.0, -2.0]))[
                None, :, None, None, None
            ]
        )

    whole = pointwise(data)
    windowed = sliding_window(pointwise, data, [8, 8, 8], 0.5)
    sliced = slice_by_slice(lambda s: pointwise(s[:, :, None])[:, :, 0], data, chunk=5)
    for result in (windowed, sliced):
        assert type(result) is type(whole) and tuple(result.shape) == (2, 2, 12, 20, 28)
        np.testing.assert_allclose(np.asarray(result), np.asarray(whole), rtol=1e-6, atol=1e-6)


def test_overlapping_windows_are_averaged_not_summed():
    volume = np.ones((1, 1, 8, 8, 24), np.float32)
    out = sliding_window(_position_logits, volume, [8, 8, 16], 0.5)  # windows start at x = 0 and 8
    x = np.arange(24)
    got = out[0, 0, 0, 0]
    np.testing.assert_allclose(got[x < 8], x[x < 8])  # one window only
    np.testing.assert_allclose(got[x >= 16], x[x >= 16] - 8)
    both = (x >= 8) & (x < 16)  # a weighted mean of the two windows' answers, never their sum
    assert ((got[both] <= x[both] + 1e-5) & (got[both] >= x[both] - 8 - 1e-5)).all()


def test_segment_volume_picks_the_strategy_from_the_model_and_the_input():
    volume = torch.zeros(1, 1, 6, 8, 8)
    seen = []

    def record(x):
        seen.append(tuple(x.shape))
        return x.new_zeros((x.shape[0], 2, *x.shape[2:]))

    segment_volume(record, volume, model_ndim=2, patch=None)
    assert seen == [(6, 1, 8, 8)]
    seen.clear()
    segment_volume(record, volume, model_ndim=3, patch=[4, 8, 8], overlap=0.5)
    assert seen == [(1, 1, 4, 8, 8)] * 2
    seen.clear()
    segment_volume(record, volume, model_ndim=3, patch=None)
    assert seen == [(1, 1, 6, 8, 8)]


def test_windows_are_weighted_by_nnunets_gaussian_centre_most():
    from medimg.deploy.sliding_window import gaussian_weights

    weights = gaussian_weights([8, 10, 12])
    assert weights.shape == (8, 10, 12) and weights.max() == 1.0 and weights.min() > 0
    assert weights[4, 5, 6] > weights[0, 5, 6] > weights[0, 0, 0]
    # a model that answers each window's position: where two windows overlap, the one whose centre
    # is nearer counts more, so the result leans to it rather than the plain mean
    volume = np.zeros((1, 1, 8, 8, 16), np.float32)
    calls = []

    def window_id(batch):
        calls.append(len(calls))
        return np.full((batch.shape[0], 1, *batch.shape[2:]), float(len(calls) - 1), np.float32)

    out = sliding_window(window_id, volume, [8, 8, 12], 0.5)  # windows at x 0..12 and 4..16
    assert out[0, 0, 4, 4, 5] < 0.5 < out[0, 0, 4, 4, 10]  # each side nearer its own window
