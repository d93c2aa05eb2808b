"""From a dataset fingerprint to a plan, by the rules nnU-Net's experiment planning states (Isensee
et al., Nature Methods 2021, and nnU-Net v2's ExperimentPlanner):

- target spacing: the median spacing; on an anisotropic axis (spacing over 3x the finest, and over
  3x fewer voxels than the others) the 10th percentile of that axis's spacing instead, never finer
  than the other axes;
- patch size: the median cropped shape at the target spacing, shrunk along its longest axis
  (relative to the median shape) until the network fits the memory budget, each axis padded up to
  a multiple of 2^(its poolings);
- poolings per axis and conv kernels per stage: nnU-Net v2's get_pool_and_conv_props (halve an
  axis while its feature map stays at least 4 voxels and its spacing is under 2x the finest, so a
  thick-slice axis is pooled only once in-plane has caught up; its kernel is 1 until then);
- batch size: at least 2, grown while the budget allows and a batch covers at most 5% of the
  dataset's voxels;
- normalisation: CT clipped to the foreground's 0.5 and 99.5 percentiles and scaled (a window from
  them); other modalities z-scored per image;
- configuration: 2D for pictures and for volumes with too few slices to pool; 3D otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from medimg.config.schema import ParamsError

MIN_FEATURE_MAP = 4  # voxels per axis at the bottom of the U-Net
MAX_POOLINGS = 5
ANISOTROPY = 3.0
BASE_WIDTH = 32  # nnU-Net's first-stage features
MAX_FEATURES = 320  # nnU-Net's cap for 3D (512 in 2D)
BYTES_PER_VOXEL_FEATURE = (
    64  # fp32 activations and gradients of a U-Net's stages, all levels summed
)
MAX_DATASET_FRACTION = 0.05


class PlanError(ParamsError):
    """No plan fits: the smallest patch the network can take exceeds the memory budget (a params
    problem: the budget, or the spacing, is for the user to change)."""


def target_spacing(fingerprint: dict) -> list[float]:
    spacing = np.asarray(fingerprint["spacing"]["median"], dtype=float)
    sizes = np.asarray(fingerprint["size_after_crop"]["median"], dtype=float)
    worst = int(np.argmax(spacing))
    others = [k for k in range(len(spacing)) if k != worst]
    if len(spacing) == 3:
        # nnU-Net v2 compares with the largest of the other spacings (v1 and our earlier rule, the smallest)
        aniso_spacing = spacing[worst] > ANISOTROPY * max(spacing[others])
        aniso_voxels = sizes[worst] * ANISOTROPY < min(sizes[others])
        if aniso_spacing and aniso_voxels:
            low = float(fingerprint["spacing"]["p10"][worst])
            spacing[worst] = max(low, float(max(spacing[others])))
    return [round(float(s), 4) for s in spacing]


def topology(patch: list[int], spacing: list[float]) -> tuple[list[list[int]], list[list[int]]]:
    """(pool strides per level, conv kernels per stage) by nnU-Net v2's get_pool_and_conv_props:
    halve an axis while its feature map keeps >= 4 voxels after it and its current spacing is under
    2x the finest of the poolable axes (a lone axis needs 3x the minimum); an axis's kernel is 1
    until its spacing comes within 2x of the finest, then 3 for good; the bottleneck's is 3."""
    ndim = len(patch)
    size, current = [float(n) for n in patch], [float(s) for s in spacing]
    kernel, levels, kernels = [1] * ndim, [], []
    while True:
        valid = [k for k in range(ndim) if size[k] >= 2 * MIN_FEATURE_MAP]
        if not valid:
            break
        finest = min(current[k] for k in valid)
        valid = [k for k in valid if current[k] / finest < 2]
        if len(valid) == 1 and size[valid[0]] < 3 * MIN_FEATURE_MAP:
            break
        if not valid or len(levels) == MAX_POOLINGS:
            break
        finest_all = min(current)
        kernel = [3 if kernel[k] == 3 or current[k] / finest_all < 2 else 1 for k in range(ndim)]
        kernels.append(list(kernel))
        for k in valid:
            current[k] *= 2
            size[k] = math.ceil(size[k] / 2)
        levels.append([2 if k in valid else 1 for k in range(ndim)])
    return levels, kernels + [[3] * ndim]


def pool_strides(patch: list[int], spacing: list[float]) -> list[list[int]]:
    """The U-Net's downsampling, one [stride per axis] per level (see :func:`topology`)."""
    return topology(patch, spacing)[0]


def poolings(patch: list[int], spacing: list[float]) -> list[int]:
    """How often each axis is halved over all levels of :func:`pool_strides`."""
    return per_axis(pool_strides(patch, spacing), len(patch))


def per_axis(levels: list[list[int]], ndim: int) -> list[int]:
    """How often each axis is halved, given the strides per level."""
    return [sum(s == 2 for s in axis) for axis in zip(*levels)] if levels else [0] * ndim


def memory_gb(patch: list[int], batch: int, width: int = BASE_WIDTH) -> float:
    """A U-Net's training memory for ``batch`` patches: voxels x first-stage features x bytes per
    voxel-feature over all levels (each level has 1/8 the voxels and 2x the features of the last)."""
    return batch * math.prod(patch) * width * BYTES_PER_VOXEL_FEATURE / 1e9


def _divisible(patch: np.ndarray, pools: list[int]) -> list[int]:
    """Each axis padded up to a multiple of 2^(its poolings), as nnU-Net's pad_shape."""
    return [max(2**p, int(math.ceil(round(n, 6) / 2**p)) * 2**p) for n, p in zip(patch, pools)]


def patch_and_batch(
    median_shape: list[float], spacing: list[float], budget_gb: float, dataset_voxels: float
) -> tuple[list[int], int, list[list[int]]]:
    """(patch, batch, the U-Net's pool strides per level) that fit ``budget_gb``; each patch axis is
    a multiple of the product of its strides."""
    median = np.asarray(median_shape, float)
    patch = median.copy()
    floor = np.full(len(patch), 2.0 * MIN_FEATURE_MAP)  # the smallest patch: one pooling per axis
    while True:
        levels = pool_strides([int(n) for n in patch], spacing)
        pools = per_axis(levels, len(patch))
        candidate = _divisible(patch, pools)
        if memory_gb(candidate, 2) <= budget_gb:
            break
        shrinkable = patch > floor
        if not shrinkable.any():
            raise PlanError(
                f"even a {candidate} patch at batch 2 needs {memory_gb(candidate, 2):.1f} GB; "
                f"the budget is {budget_gb:g} GB (raise plan.gpu_memory_gb or plan.cpu_memory_gb, "
                "whichever plan.memory names, or plan from a coarser spacing)"
            )
        # shrink the axis that is largest relative to the median shape, as nnU-Net does
        axis = int(np.argmax(np.where(shrinkable, patch / median, -np.inf)))
        patch[axis] = max(floor[axis], patch[axis] - 2 ** pools[axis])
    batch = 2
    while (
        memory_gb(candidate, batch + 1) <= budget_gb
        and (batch + 1) * math.prod(candidate) <= MAX_DATASET_FRACTION * dataset_voxels
    ):
        batch += 1
    return candidate, batch, levels


def normalisation(fingerprint: dict) -> dict:
    if fingerprint["modality"] == "CT":
        low = fingerprint["intensity_foreground"]["p0.5"]
        high = fingerprint["intensity_foreground"]["p99.5"]
        return {
            "normalize": "window",
            "window": {"level": round((low + high) / 2, 1), "width": round(high - low, 1)},
            "rule": "CT: clip to the foreground's 0.5-99.5 percentiles, then scale",
        }
    return {"normalize": "percentile_zscore", "rule": "z-score per image"}


def make_plan(fingerprint: dict, budget_gb: float) -> dict:
    """The plan for the fingerprinted dataset under a memory budget (GB)."""
    spacing = target_spacing(fingerprint)
    scale = np.asarray(fingerprint["spacing"]["median"]) / np.asarray(spacing)
    median_shape = (np.asarray(fingerprint["size_after_crop"]["median"]) * scale).round(1).tolist()
    p90_shape = (np.asarray(fingerprint["size_after_crop"]["p90"]) * scale).round(1).tolist()
    dataset_voxels = float(np.prod(median_shape)) * fingerprint["cases"]
    configuration = "2d" if fingerprint["ndim"] == 2 else "3d"
    if configuration == "3d" and min(median_shape) < 2 * MIN_FEATURE_MAP:
        configuration = "2d"  # too few slices to pool even once: slice by slice
    plan_shape = (
        median_shape if configuration == "3d" or len(median_shape) == 2 else median_shape[1:]
    )
    plan_spacing = spacing if len(plan_shape) == len(spacing) else spacing[1:]
    patch, batch, levels = patch_and_batch(plan_shape, plan_spacing, budget_gb, dataset_voxels)
    pools = per_axis(levels, len(patch))
    kernels = topology(patch, plan_spacing)[1]
    return {
        "configuration": configuration,
        "target_spacing": spacing,
        "median_shape_at_target_spacing": median_shape,
        "p90_shape_at_target_spacing": p90_shape,
        "patch_size": patch,
        "batch_size": batch,
        "poolings_per_axis": pools,
        "pool_strides": levels,
        "conv_kernels": kernels,
        "features": [min(BASE_WIDTH * 2**level, MAX_FEATURES) for level in range(len(levels) + 1)],
        "depth": len(levels),
        "memory_gb": round(memory_gb(patch, batch), 2),
        "budget_gb": budget_gb,
        "normalisation": normalisation(fingerprint),
    }
