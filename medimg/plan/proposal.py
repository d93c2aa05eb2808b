"""The params a plan proposes, and how they differ from the params in use.

Only keys params.yaml has are proposed: the recipe's target spacing and normalisation, the patch
(3D segmentation trains on patches of cases cut or padded to the 90th-percentile shape; a classifier
sees the whole crop at the patch size, a 2D model the picture at that size), the batch size and, for the U-Nets, the pool strides per level (network
depth and poolings per axis).
"""

from __future__ import annotations

import math
from typing import Any

from medimg.config.catalog import CATALOG
from medimg.config.schema import Params


def proposed_params(plan: dict, params: Params) -> dict[str, Any]:
    """A nested {section: {key: value}} of what the plan changes, in params.yaml's shape."""
    info = CATALOG[params.model.name]
    norm = plan["normalisation"]
    preprocess: dict[str, Any] = {"normalize": norm["normalize"]}
    if norm["normalize"] == "window":
        preprocess["window"] = {"preset": None, **norm["window"]}
    out: dict[str, Any] = {"preprocess": preprocess, "train": {"batch_size": plan["batch_size"]}}
    if len(plan["target_spacing"]) == 3:
        preprocess["spacing"] = plan["target_spacing"]
    patch = plan["patch_size"]
    if "budget" in plan:  # the compute budget: the batches an epoch of this machine affords
        out["sampling"] = {"patches": {"batches_per_epoch": plan["budget"]["batches_per_epoch"]}}
    if len(patch) == 2:
        preprocess["photo"] = {"size": patch}
    elif info.task == "segmentation" and info.ndim == 3:
        out.setdefault("sampling", {"patches": {}})["patches"]["size"] = patch
        # each case cut or padded around its foreground box to the 90th-percentile shape (never
        # below the patch): nnU-Net trains on whole cases; a fixed-shape cache keeps 90% of them whole
        preprocess["target_shape"] = [
            max(p, int(math.ceil(s))) for p, s in zip(patch, plan["p90_shape_at_target_spacing"])
        ]
        preprocess["shape_mode"] = "crop_pad"
    else:
        preprocess["target_shape"] = patch
    if (
        params.model.name.startswith("unet")
        and len(plan["pool_strides"][0] if plan["pool_strides"] else []) == info.ndim
    ):
        out["model"] = {"pool_strides": plan["pool_strides"]}
        if "conv_kernels" in plan:
            out["model"]["conv_kernels"] = plan["conv_kernels"]
        if "width" in plan.get("budget", {}):
            out["model"]["width"] = plan["budget"]["width"]
    return out


def flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flat(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: tree}


def params_diff(proposal: dict, params: Params) -> list[str]:
    """One line per proposed key whose value differs: ``key: current -> proposed``."""
    current = flat(params.model_dump(mode="json"))
    return [
        f"{key}: {current.get(key)!r} -> {value!r}"
        for key, value in flat(proposal).items()
        if current.get(key) != value
    ]
