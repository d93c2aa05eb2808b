"""The U-Net is nnU-Net's plain U-Net and follows the planned strides and kernels: an anisotropic
axis downsampled fewer times and looked across with kernel 1 until it is fine enough, any depth."""

import pytest
import torch

from medimg.config.schema import ModelParams
from medimg.models import build_model


def _downsampling(model):
    """The stride of each encoder stage's first convolution."""
    return [list(part[0].stride) for _, part in model.backbone_groups()]


def test_the_default_unet_is_nnunets_four_strided_convolutions_32_to_256_features():
    model = build_model(ModelParams(name="unet3d", width=32))
    assert not [m for m in model.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert _downsampling(model) == [[1, 1, 1]] + [[2, 2, 2]] * 4
    features = [part[0].out_channels for _, part in model.backbone_groups()]
    assert features == [32, 64, 128, 256, 320]  # doubling, capped at 320 as nnU-Net
    blocks = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Sequential)]
    kinds = [type(m).__name__ for m in blocks[0]]
    assert kinds == ["Conv3d", "InstanceNorm3d", "LeakyReLU"] * 2
    ups = [m for m in model.head.modules() if isinstance(m, torch.nn.ConvTranspose3d)]
    assert [list(u.stride) for u in ups] == [[2, 2, 2]] * 4


def test_planned_strides_and_kernels_keep_a_thick_z_until_in_plane_catches_up():
    strides = [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    kernels = [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3]]
    model = build_model(
        ModelParams(
            name="unet3d",
            width=4,
            pool_strides=strides,
            conv_kernels=kernels,
            deep_supervision=True,
        )
    ).eval()
    assert _downsampling(model)[1:] == strides
    assert [list(part[0].kernel_size) for _, part in model.backbone_groups()] == kernels
    x = torch.randn(1, 1, 8, 32, 32)  # 8 slices: downsampled once; 32 in-plane: three times
    assert model(x).shape == (1, 2, 8, 32, 32)
    model.train()
    full, coarser = model(x)
    assert full.shape[2:] == x.shape[2:] and [c.shape[2:] for c in coarser] == [
        torch.Size([8, 16, 16])
    ]


def test_strides_or_kernels_that_do_not_fit_the_model_are_a_params_error():
    with pytest.raises(ValueError, match="3 strides each"):
        ModelParams(name="unet3d", pool_strides=[[2, 2]])
    with pytest.raises(ValueError, match="applies to the U-Nets"):
        ModelParams(name="resnet3d_18", pool_strides=[[2, 2, 2]])
    with pytest.raises(ValueError, match="conv_kernels"):
        build_model(ModelParams(name="unet3d", width=4, conv_kernels=[[3, 3, 3]]))
