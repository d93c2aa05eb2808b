import numpy as np

from medimg.preprocess.transforms.geometry import crop_or_pad


def test_centred_window_with_padding_outside():
    volume = np.arange(4 * 4, dtype=np.float32).reshape(4, 4)
    out = crop_or_pad(volume, [6, 2], centre=[1.5, 1.5], fill=-1.0)
    assert out.shape == (6, 2)
    np.testing.assert_array_equal(out[1:5], volume[:, 1:3])
    assert (out[0] == -1).all() and (out[5] == -1).all()


def test_window_entirely_outside_is_all_fill():
    assert (crop_or_pad(np.ones((3, 3)), [2, 2], centre=[20.0, 20.0], fill=0.0) == 0).all()
