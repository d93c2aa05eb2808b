"""3D augmentation as batched warps on the training device (``affine_grid`` / ``grid_sample``).

One random affine per volume (flips, rotation about each axis, isotropic scale, shift) plus an
optional smooth elastic displacement are folded into a single sampling grid, so a batch is warped
by one ``grid_sample`` call on the GPU instead of per-sample scipy calls in the loader. Masks are
sampled on the same grid with nearest-neighbour, so they stay aligned with their images.
Random numbers come from a CPU ``torch.Generator`` so a seed gives the same augmentation anywhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from medimg.config.schema import AugmentParams

# array axis (z, y, x) -> coordinate index in affine_grid's (x, y, z) convention
GRID_COORD = {0: 2, 1: 1, 2: 0}


def _uniform(generator: torch.Generator, batch: int, limit: float, count: int = 1) -> torch.Tensor:
    return (torch.rand(batch, count, generator=generator) * 2 - 1) * limit


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """(B, 3) radians about x, y, z → (B, 3, 3) rotation matrices."""
    cos, sin = angles.cos(), angles.sin()
    one, zero = torch.ones_like(cos[:, 0]), torch.zeros_like(cos[:, 0])
    rx = torch.stack(
        [one, zero, zero, zero, cos[:, 0], -sin[:, 0], zero, sin[:, 0], cos[:, 0]], 1
    ).view(-1, 3, 3)
    ry = torch.stack(
        [cos[:, 1], zero, sin[:, 1], zero, one, zero, -sin[:, 1], zero, cos[:, 1]], 1
    ).view(-1, 3, 3)
    rz = torch.stack(
        [cos[:, 2], -sin[:, 2], zero, sin[:, 2], cos[:, 2], zero, zero, zero, one], 1
    ).view(-1, 3, 3)
    return rz @ ry @ rx


def random_affines(batch: int, params: AugmentParams, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 4) ``affine_grid`` matrices: output coordinate → input coordinate, normalised to [-1, 1]."""
    matrix = _rotation(_uniform(generator, batch, math.radians(params.rotate_degrees), 3))
    scale = 1 + _uniform(generator, batch, params.scale)
    matrix = matrix / scale[:, :, None]  # sampling a smaller region enlarges the content
    flips = torch.ones(batch, 3)
    for axis in params.flip_axes:
        flips[:, GRID_COORD[axis]] = torch.where(
            torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0
        )
    matrix = matrix * flips[:, None, :]
    shift = _uniform(generator, batch, 2 * params.shift, 3)  # [-1, 1] spans the field of view
    return torch.cat([matrix, shift[:, :, None]], dim=2)


def elastic_offsets(
    batch: int,
    shape: tuple[int, int, int],
    magnitude: float,
    generator: torch.Generator,
    control_points: int = 4,
) -> torch.Tensor:
    """(B, D, H, W, 3) smooth random displacement: noise on a coarse grid, upsampled trilinearly."""
    coarse = torch.randn(
        batch, 3, control_points, control_points, control_points, generator=generator
    )
    field = F.interpolate(coarse * 2 * magnitude, size=shape, mode="trilinear", align_corners=True)
    return field.permute(0, 2, 3, 4, 1)


def augment_volumes(
    x: torch.Tensor,
    params: AugmentParams,
    generator: torch.Generator,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Warp and re-intensity a batch (B, C, D, H, W) on its device; ``mask`` (B, D, H, W) follows the warp."""
    batch, shape = x.shape[0], tuple(x.shape[2:])
    theta = random_affines(batch, params, generator)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    if params.elastic > 0:
        grid = grid + elastic_offsets(batch, shape, params.elastic, generator).to(x.device, x.dtype)
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if mask is not None:
        mask = F.grid_sample(
            mask[:, None].to(x.dtype),
            grid,
            mode="nearest",
            padding_mode="zeros",
            align_corners=False,
        )[:, 0].to(mask.dtype)
    return adjust_intensity(warped, params, generator), mask


def adjust_intensity(
    x: torch.Tensor, params: AugmentParams, generator: torch.Generator
) -> torch.Tensor:
    """Per-sample contrast (about the mean), brightness shift, gamma and Gaussian noise."""
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    contrast = (
        (1 + _uniform(generator, x.shape[0], params.contrast)).view(view).to(x.device, x.dtype)
    )
    brightness = _uniform(generator, x.shape[0], params.brightness).view(view).to(x.device, x.dtype)
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    if params.gamma > 0:
        x = random_gamma(x, params.gamma, generator)
    if params.noise_std > 0:
        x = x + torch.randn(x.shape, generator=generator).to(x.device, x.dtype) * params.noise_std
    return x


def random_gamma(x: torch.Tensor, limit: float, generator: torch.Generator) -> torch.Tensor:
    """nnU-Net's gamma augmentation: each sample is mapped to [0, 1] by its own range, raised to a
    gamma drawn log-uniformly in [1 / (1 + limit), 1 + limit] and mapped back, so the intensity
    range is kept and only the curve between its ends bends."""
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    gamma = torch.exp(_uniform(generator, x.shape[0], math.log1p(limit))).view(view)
    dims = tuple(range(1, x.ndim))
    low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    span = (high - low).clamp_min(1e-8)
    return ((x - low) / span).pow(gamma.to(x.device, x.dtype)) * span + low
