"""3D augmentation as batched warps on the training device (``affine_grid`` / ``grid_sample``).

One random affine per volume (flips, rotation about each axis, isotropic scale, shift) plus an
optional smooth elastic displacement are folded into a single sampling grid, so a batch is warped
by one ``grid_sample`` call on the GPU instead of per-sample scipy calls in the loader.

The affine is drawn in voxel units about the patch centre and only then expressed in
``affine_grid``'s normalised coordinates: built in normalised coordinates, a rotation of a
non-cubic patch would also shear it. The loader hands over a patch larger than the one trained on
(:func:`enlarged_patch`), and the warp samples the final patch out of its middle, as nnU-Net does,
so rotated corners show image content, not invented border. Image and mask are sampled on the same
grid with the same zero padding; the mask with nearest-neighbour, so a label never blends.
Random numbers come from a CPU ``torch.Generator`` so a seed gives the same augmentation anywhere;
a transform that is off draws nothing, so the others keep their draws.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from medimg.config.schema import AugmentParams

# array axis (z, y, x) -> coordinate index in affine_grid's (x, y, z) convention
GRID_COORD = {0: 2, 1: 1, 2: 0}
BLUR_SIGMA = (0.5, 1.0)  # voxels (nnU-Net)
LOW_RESOLUTION_ZOOM = (0.5, 1.0)  # (nnU-Net)


def _uniform(generator: torch.Generator, batch: int, limit: float, count: int = 1) -> torch.Tensor:
    return (torch.rand(batch, count, generator=generator) * 2 - 1) * limit


def _chosen(generator: torch.Generator, batch: int, probability: float) -> torch.Tensor:
    """(B,) bool: which samples a transform applies to."""
    return torch.rand(batch, generator=generator) < probability


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


def random_voxel_affines(
    batch: int, shape: Sequence[int], params: AugmentParams, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, 3) matrices and (B, 3) shifts in voxel units, (x, y, z) order, about the centre:
    output voxel offset -> input voxel offset. A scale above 1 samples a larger region."""
    chance = params.probability
    angles = torch.zeros(batch, 3)
    if params.rotate_degrees > 0:
        drawn = _uniform(generator, batch, math.radians(params.rotate_degrees), 3)
        angles = torch.where(_chosen(generator, batch, chance.rotate)[:, None], drawn, angles)
    matrix = _rotation(angles)
    if params.scale > 0:
        scale = 1 + _uniform(generator, batch, params.scale)
        scale = torch.where(_chosen(generator, batch, chance.scale)[:, None], scale, 1.0)
        matrix = matrix * scale[:, :, None]
    flips = torch.ones(batch, 3)
    for axis in params.flip_axes:
        flips[:, GRID_COORD[axis]] = torch.where(
            torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0
        )
    matrix = matrix * flips[:, None, :]
    sizes = torch.tensor([float(shape[a]) for a in (2, 1, 0)])
    shift = _uniform(generator, batch, params.shift, 3) * sizes if params.shift > 0 else None
    return matrix, torch.zeros(batch, 3) if shift is None else shift


def normalised_affines(
    matrix: torch.Tensor, shift: torch.Tensor, out_shape: Sequence[int], in_shape: Sequence[int]
) -> torch.Tensor:
    """Voxel-unit affines as ``affine_grid`` thetas (B, 3, 4) for an ``out_shape`` patch sampled
    from an ``in_shape`` one (align_corners=False: voxel offset = normalised coordinate x size/2)."""
    half_out = torch.tensor([out_shape[a] / 2 for a in (2, 1, 0)])
    half_in = torch.tensor([in_shape[a] / 2 for a in (2, 1, 0)])
    theta = matrix * half_out[None, None, :] / half_in[None, :, None]
    return torch.cat([theta, (shift / half_in)[:, :, None]], dim=2)


def enlarged_patch(size: Sequence[int], params: AugmentParams) -> list[int]:
    """The patch to load so that any drawn rotation, scale and shift of ``size`` stays inside it."""
    theta, reach = math.radians(params.rotate_degrees), 1 + params.scale
    half = torch.tensor([size[a] / 2 for a in (2, 1, 0)], dtype=torch.float64)
    extent = half.clone()
    for angles in itertools.product((-theta, 0.0, theta), repeat=3):
        rotation = _rotation(torch.tensor([angles], dtype=torch.float64))[0]
        extent = torch.maximum(extent, rotation.abs() @ half)
    need = extent * reach + half * 2 * params.shift
    return [max(s, 2 * math.ceil(float(need[GRID_COORD[a]]))) for a, s in enumerate(size)]


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
    out_shape: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Warp and re-intensity a batch (B, C, D, H, W) on its device; ``mask`` (B, D, H, W) follows
    the warp. ``out_shape`` (z, y, x): the patch to return, sampled from the middle of ``x``."""
    batch, in_shape = x.shape[0], tuple(x.shape[2:])
    out_shape = tuple(out_shape or in_shape)
    matrix, shift = random_voxel_affines(batch, out_shape, params, generator)
    theta = normalised_affines(matrix, shift, out_shape, in_shape)
    grid = F.affine_grid(
        theta.to(x.device, x.dtype), [batch, x.shape[1], *out_shape], align_corners=False
    )
    if params.elastic > 0:
        grid = grid + elastic_offsets(batch, out_shape, params.elastic, generator).to(
            x.device, x.dtype
        )
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if mask is not None:
        mask = F.grid_sample(
            mask[:, None].to(x.dtype),
            grid,
            mode="nearest",
            padding_mode="zeros",
            align_corners=False,
        )[:, 0].to(mask.dtype)
    return adjust_intensity(warped, params, generator), mask


def _per_sample(generator: torch.Generator, x: torch.Tensor, limit: float) -> torch.Tensor:
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    return _uniform(generator, x.shape[0], limit).view(view).to(x.device, x.dtype)


def _where(chosen: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.where(chosen.view((-1,) + (1,) * (x.ndim - 1)).to(x.device), changed, x)


def adjust_intensity(
    x: torch.Tensor, params: AugmentParams, generator: torch.Generator
) -> torch.Tensor:
    """nnU-Net's order: noise, blur, brightness (multiplicative, or ours additive), contrast about
    the mean within the sample's range, low-resolution simulation, gamma (inverted, then not)."""
    chance, batch = params.probability, x.shape[0]
    if params.noise_std > 0:
        std = torch.rand(batch, generator=generator) * params.noise_std
        noise = torch.randn(x.shape, generator=generator) * std.view(-1, *(1,) * (x.ndim - 1))
        x = _where(_chosen(generator, batch, chance.noise), x + noise.to(x.device, x.dtype), x)
    if chance.blur > 0:
        x = random_blur(x, chance.blur, generator)
    if params.multiply > 0:
        factor = 1 + _per_sample(generator, x, params.multiply)
        x = _where(_chosen(generator, batch, chance.multiply), x * factor, x)
    if params.brightness > 0:
        x = x + _per_sample(generator, x, params.brightness)
    if params.contrast > 0:
        factor = 1 + _per_sample(generator, x, params.contrast)
        dims = tuple(range(1, x.ndim))
        mean = x.mean(dim=dims, keepdim=True)
        low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
        stretched = torch.maximum(torch.minimum((x - mean) * factor + mean, high), low)
        x = _where(_chosen(generator, batch, chance.contrast), stretched, x)
    if chance.low_resolution > 0:
        x = simulate_low_resolution(x, chance.low_resolution, generator)
    if params.gamma > 0 and chance.gamma_inverted > 0:
        inverted = -random_gamma(-x, params.gamma, generator)
        x = _where(_chosen(generator, batch, chance.gamma_inverted), inverted, x)
    if params.gamma > 0:
        x = _where(
            _chosen(generator, batch, chance.gamma), random_gamma(x, params.gamma, generator), x
        )
    return x


def random_gamma(x: torch.Tensor, limit: float, generator: torch.Generator) -> torch.Tensor:
    """nnU-Net's gamma augmentation: each sample is mapped to [0, 1] by its own range, raised to a
    gamma drawn log-uniformly in [1 / (1 + limit), 1 + limit] and mapped back; then its mean and
    standard deviation are restored (nnU-Net's retain_stats), so only the curve's shape changes."""
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    gamma = torch.exp(_uniform(generator, x.shape[0], math.log1p(limit))).view(view)
    dims = tuple(range(1, x.ndim))
    mean, std = x.mean(dim=dims, keepdim=True), x.std(dim=dims, keepdim=True)
    low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    span = (high - low).clamp_min(1e-8)
    bent = ((x - low) / span).pow(gamma.to(x.device, x.dtype)) * span + low
    bent_mean, bent_std = bent.mean(dim=dims, keepdim=True), bent.std(dim=dims, keepdim=True)
    return (bent - bent_mean) / bent_std.clamp_min(1e-8) * std + mean


def gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def blur(volume: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """One sample (C, D, H, W) blurred by a separable Gaussian, ``sigmas`` per axis (z, y, x)."""
    out = volume[:, None]
    for axis, sigma in enumerate(sigmas):
        kernel = gaussian_kernel(sigma).to(volume.device, volume.dtype)
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = len(kernel)
        pad = [0] * 6
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = len(kernel) // 2
        out = F.conv3d(F.pad(out, pad, mode="replicate"), kernel.view(shape))
    return out[:, 0]


def random_blur(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    chosen = _chosen(generator, x.shape[0], probability)
    low, high = BLUR_SIGMA
    sigmas = low + torch.rand(x.shape[0], 3, generator=generator) * (high - low)
    if not chosen.any():
        return x
    return torch.stack([blur(s, sigmas[i].tolist()) if chosen[i] else s for i, s in enumerate(x)])


def simulate_low_resolution(
    x: torch.Tensor, probability: float, generator: torch.Generator
) -> torch.Tensor:
    """Down by a zoom in [0.5, 1] per axis (nearest) and back up (linear), as nnU-Net simulates
    a coarser scan."""
    chosen = _chosen(generator, x.shape[0], probability)
    low, high = LOW_RESOLUTION_ZOOM
    zooms = low + torch.rand(x.shape[0], 3, generator=generator) * (high - low)
    if not chosen.any():
        return x
    shape = x.shape[2:]
    out = []
    for i, sample in enumerate(x):
        if chosen[i]:
            small = [max(1, round(n * float(z))) for n, z in zip(shape, zooms[i])]
            down = F.interpolate(sample[None], size=small, mode="nearest-exact")
            sample = F.interpolate(down, size=shape, mode="trilinear", align_corners=False)[0]
        out.append(sample)
    return torch.stack(out)
