"""The U-Net follows the planned pool strides: an anisotropic axis pooled fewer times, any depth."""

import pytest
import torch

from medimg.config.schema import ModelParams
from medimg.models import build_model


def test_the_default_unet_pools_four_times_by_two_on_every_axis():
    model = build_model(ModelParams(name="unet3d", width=4))
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert [list(p.kernel_size) for p in pools] == [[2, 2, 2]] * 4


def test_planned_strides_keep_a_thick_z_until_in_plane_catches_up():
    strides = [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    model = build_model(
        ModelParams(name="unet3d", width=4, pool_strides=strides, deep_supervision=True)
    ).eval()
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert [list(p.kernel_size) for p in pools] == strides
    x = torch.randn(1, 1, 8, 32, 32)  # 8 slices: pooled once; 32 in-plane: three times
    assert model(x).shape == (1, 2, 8, 32, 32)
    model.train()
    full, coarser = model(x)
    assert full.shape[2:] == x.shape[2:] and [c.shape[2:] for c in coarser] == [
        torch.Size([8, 16, 16])
    ]


def test_strides_that_do_not_fit_the_model_are_a_params_error():
    with pytest.raises(ValueError, match="3 strides each"):
        ModelParams(name="unet3d", pool_strides=[[2, 2]])
    with pytest.raises(ValueError, match="applies to the U-Nets"):
        ModelParams(name="resnet3d_18", pool_strides=[[2, 2, 2]])
