"""MixUp and CutMix of a training batch, for 2D images and 3D volumes alike.

torchvision's v2.MixUp/CutMix accept only 4D image batches and draw from the global RNG; here the
box is cut in every spatial axis and the draws come from the stage's seeded generator, so a
resumed stage mixes exactly as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch

from medimg.config.training import MixParams
from medimg.train.losses import as_probabilities


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, classes: int, params: MixParams, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, integer labels) → (mixed images, class-probability targets) with a rolled partner."""
    target = as_probabilities(y, classes)
    draw = torch.rand((), generator=generator).item()
    if params.method == "none" or draw >= params.probability or x.shape[0] < 2:
        return x, target
    # torch's Beta sampler takes no generator; numpy's, seeded from ours, keeps the draw reproducible
    lam = float(
        np.random.default_rng(int(torch.randint(0, 2**31 - 1, (), generator=generator))).beta(
            params.alpha, params.alpha
        )
    )
    partner, partner_target = x.roll(1, dims=0), target.roll(1, dims=0)
    if params.method == "mixup":
        return lam * x + (1 - lam) * partner, lam * target + (1 - lam) * partner_target
    spatial = x.shape[2:]
    side = (1 - lam) ** (1 / len(spatial))  # box volume = 1 - lam of the image
    slices = [slice(None), slice(None)]
    kept = 1.0
    for size in spatial:
        length = int(round(size * side))
        start = int(torch.randint(0, size - length + 1, (), generator=generator))
        slices.append(slice(start, start + length))
        kept *= length / size
    mixed = x.clone()
    mixed[tuple(slices)] = partner[tuple(slices)]
    lam = 1 - kept  # the label weight follows the box actually cut, after rounding
    return mixed, lam * target + (1 - lam) * partner_target
