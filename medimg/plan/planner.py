"""From a dataset fingerprint to a plan, by the rules nnU-Net's experiment planning states (Isensee
et al., Nature Methods 2021, and nnU-Net v2's ExperimentPlanner):

- target spacing: the median spacing; on an anisotropic axis (spacing over 3x the finest, and over
  3x fewer voxels than the others) the 10th percentile of that axis's spacing instead, never finer
  than the other axes;
- patch size: a 256^3-voxel patch in the spacing's aspect ratio clipped to the median cropped
  shape at the target spacing, shrunk along its longest axis (relative to the median shape) until
  the network's feature maps fit the memory budget by nnU-Net's reference (560M voxel-features
  took 8 GB at batch 2), each axis padded up to a multiple of 2^(its poolings);
- poolings per axis and conv kernels per stage: nnU-Net v2's get_pool_and_conv_props (halve an
  axis while its feature map stays at least 4 voxels and its spacing is under 2x the finest, so a
  thick-slice axis is pooled only once in-plane has caught up; its kernel is 1 until then);
- batch size: what the budget allows by the same reference, at most 5% of the dataset's voxels
  (rounded) and at least 2;
- normalisation: CT clipped to the foreground's 0.5 and 99.5 percentiles and scaled (a window from
  them); other modalities z-scored per image;
- configuration: 2D for pictures and for volumes with too few slices to pool; 3D otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from medimg.config.schema import ParamsError

MIN_FEATURE_MAP = 4  # voxels per axis at the bottom of the U-Net
MAX_POOLINGS = 6  # the U-Nets take up to 6 levels (nnU-Net: no cap)
ANISOTROPY = 3.0
BASE_WIDTH = 32  # nnU-Net's first-stage features
MAX_FEATURES = 320  # nnU-Net's cap for 3D
MAX_FEATURES_2D = 512
# nnU-Net v2's memory reference: feature-map voxels (see feature_map_voxels) and the batch that
# took REFERENCE_GB of GPU memory
REFERENCE_3D = (560_000_000, 2)
REFERENCE_2D = (85_000_000, 12)
REFERENCE_GB = 8.0
MIN_BATCH = 2
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


def stage_features(stages: int, ndim: int, width: int = BASE_WIDTH) -> list[int]:
    """Features per U-Net stage: doubling from ``width``, capped as nnU-Net caps them."""
    cap = MAX_FEATURES if ndim == 3 else MAX_FEATURES_2D
    return [min(width * 2**stage, cap) for stage in range(stages)]


def feature_map_voxels(
    patch: list[int], levels: list[list[int]], classes: int, width: int = BASE_WIDTH
) -> int:
    """nnU-Net's memory proxy (PlainConvUNet.compute_conv_feature_map_size): the voxels x features
    of every convolution's output, two per encoder and decoder stage, the transposed convolutions
    and the output layer, for one patch."""
    ndim = len(patch)
    features = stage_features(len(levels) + 1, ndim, width)
    sizes, size = [], list(patch)
    for stride in [[1] * ndim, *levels]:
        size = [n // k for n, k in zip(size, stride)]
        sizes.append(math.prod(size))
    encoder = sum(2 * f * v for f, v in zip(features, sizes))
    decoder = sum(3 * f * v for f, v in zip(features[:-1], sizes[:-1]))
    return int(encoder + decoder + classes * sizes[0])


def memory_gb(patch: list[int], batch: int, levels: list[list[int]], classes: int = 2) -> float:
    """Training memory for ``batch`` patches by nnU-Net's reference: 560M feature-map voxels (3D,
    85M in 2D) took 8 GB at batch 2 (12 in 2D)."""
    reference, reference_batch = REFERENCE_3D if len(patch) == 3 else REFERENCE_2D
    estimate = feature_map_voxels(patch, levels, classes)
    return round(estimate / reference * REFERENCE_GB * batch / reference_batch, 3)


def _divisible(patch, pools: list[int]) -> list[int]:
    """Each axis padded up to a multiple of 2^(its poolings), as nnU-Net's pad_shape."""
    return [max(2**p, int(math.ceil(round(n, 6) / 2**p)) * 2**p) for n, p in zip(patch, pools)]


def _padded_topology(patch: list[int], spacing: list[float]):
    """(patch padded to its poolings, strides per level, its divisors per axis)."""
    levels = pool_strides(patch, spacing)
    pools = per_axis(levels, len(patch))
    return _divisible(patch, pools), levels, [2**p for p in pools]


def initial_patch(median_shape: list[float], spacing: list[float]) -> list[int]:
    """nnU-Net v2's start: a patch of 256^3 voxels (2048^2 in 2D) with the spacing's aspect ratio,
    clipped to the median shape."""
    inverse = 1 / np.asarray(spacing, float)
    volume = 256.0**3 if len(spacing) == 3 else 2048.0**2
    start = [round(v) for v in inverse * (volume / np.prod(inverse)) ** (1 / len(spacing))]
    return [int(min(a, b)) for a, b in zip(start, median_shape)]


def patch_and_batch(
    median_shape: list[float],
    spacing: list[float],
    budget_gb: float,
    dataset_voxels: float,
    classes: int = 2,
) -> tuple[list[int], int, list[list[int]]]:
    """(patch, batch, the U-Net's pool strides per level) by nnU-Net v2's
    get_plans_for_configuration: shrink the axis largest relative to the median shape until batch
    2 fits ``budget_gb``, then take the batch the budget allows, at most 5% of the dataset's
    voxels per step and at least 2."""
    reference, reference_batch = REFERENCE_3D if len(median_shape) == 3 else REFERENCE_2D
    allowed = reference * budget_gb / REFERENCE_GB
    patch, levels, divisors = _padded_topology(initial_patch(median_shape, spacing), spacing)

    def estimate() -> int:
        return feature_map_voxels(patch, levels, classes)

    while estimate() / reference_batch * 2 > allowed:
        axis = int(np.argsort([p / m for p, m in zip(patch, median_shape)])[-1])
        if patch[axis] - divisors[axis] < 2 * MIN_FEATURE_MAP:
            raise PlanError(
                f"even a {patch} patch at batch 2 needs {memory_gb(patch, 2, levels, classes):.1f}"
                f" GB; the budget is {budget_gb:g} GB (raise plan.gpu_memory_gb or "
                "plan.cpu_memory_gb, whichever plan.memory names, or plan from a coarser spacing)"
            )
        smaller = list(patch)
        smaller[axis] -= divisors[axis]
        divisors = _padded_topology(smaller, spacing)[2]
        patch = list(patch)
        patch[axis] -= divisors[axis]
        patch, levels, divisors = _padded_topology(patch, spacing)
    batch = round(allowed / estimate() * reference_batch)
    five_percent = round(dataset_voxels * MAX_DATASET_FRACTION / math.prod(patch))
    return patch, max(min(batch, five_percent), MIN_BATCH), levels


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


def make_plan(fingerprint: dict, budget_gb: float, pixel_scale: float = 1.0) -> dict:
    """The plan for the fingerprinted dataset under a memory budget (GB); for pictures (2D data)
    ``pixel_scale`` times coarser pixels than theirs (the CPU budget's way to fewer pixels)."""
    spacing = [s * pixel_scale for s in target_spacing(fingerprint)]
    if pixel_scale != 1.0 and fingerprint["ndim"] != 2:
        raise ValueError("pixel_scale is for pictures; a volume's spacing is planned")
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
    # the output layer's channels: the mask's classes, background included (a small term)
    classes = max(2, len(fingerprint.get("label_voxel_fraction") or {}))
    patch, batch, levels = patch_and_batch(
        plan_shape, plan_spacing, budget_gb, dataset_voxels, classes
    )
    pools = per_axis(levels, len(patch))
    kernels = topology(patch, plan_spacing)[1]
    return {
        "configuration": configuration,
        "target_spacing": spacing,
        **({"pixel_scale": pixel_scale} if fingerprint["ndim"] == 2 else {}),
        "median_shape_at_target_spacing": median_shape,
        "p90_shape_at_target_spacing": p90_shape,
        "patch_size": patch,
        "batch_size": batch,
        "poolings_per_axis": pools,
        "pool_strides": levels,
        "conv_kernels": kernels,
        "features": stage_features(len(levels) + 1, len(patch)),
        "depth": len(levels),
        "memory_gb": round(memory_gb(patch, batch, levels, classes), 2),
        "budget_gb": budget_gb,
        "normalisation": normalisation(fingerprint),
    }
