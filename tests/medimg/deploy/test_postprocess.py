"""Largest-component post-processing: one label at a time, the others untouched."""

import numpy as np

from medimg.deploy.postprocess import keep_largest_component, postprocess


def _labels():
    labels = np.zeros((8, 10, 12), np.int64)
    labels[1:5, 1:5, 1:5] = 1  # the structure
    labels[6, 8, 10] = 1  # a stray voxel of the same label
    labels[1:3, 6:9, 6:9] = 2  # another label, in two pieces
    labels[6, 1, 10] = 2
    return labels


def test_only_the_largest_component_of_the_named_label_is_kept():
    labels = _labels()
    out = keep_largest_component(labels, 1)
    assert out[6, 8, 10] == 0 and (out[1:5, 1:5, 1:5] == 1).all()
    assert (out == 2).sum() == (labels == 2).sum()  # label 2 is left alone
    assert (labels[6, 8, 10]) == 1  # the input is not changed


def test_postprocess_applies_each_named_label_and_nothing_else():
    labels = _labels()
    assert np.array_equal(postprocess(labels, []), labels)
    both = postprocess(labels, [1, 2])
    assert both[6, 8, 10] == 0 and both[6, 1, 10] == 0
    assert (both == 2).sum() == (labels == 2).sum() - 1
