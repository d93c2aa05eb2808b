"""Grad-CAM (Selvaraju et al., 2017) for the registry's classifiers, 2D and 3D.

The class score's gradient, averaged over the last backbone group's feature map, weights that map;
the positive part, upsampled to the input, shows where the model looked.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def grad_cam(model: nn.Module, image: torch.Tensor, target_class: int) -> np.ndarray:
    """A heat map in [0, 1] with the input's spatial shape, for one image (C, [z,] y, x)."""
    model.eval()
    activations: list[torch.Tensor] = []
    last = model.backbone_groups()[-1][1]
    handle = last.register_forward_hook(lambda module, inputs, output: activations.append(output))
    try:
        with torch.enable_grad():
            x = (
                image[None].float().requires_grad_(True)
            )  # keeps the graph even with a frozen backbone
            score = model(x)[0, target_class]
            feature = activations[0]
            (gradient,) = torch.autograd.grad(score, feature)
    finally:
        handle.remove()
    weights = gradient.mean(dim=tuple(range(2, gradient.ndim)), keepdim=True)
    cam = F.relu((weights * feature).sum(1, keepdim=True))
    mode = "trilinear" if cam.ndim == 5 else "bilinear"
    cam = F.interpolate(cam, size=image.shape[1:], mode=mode, align_corners=False)[0, 0].detach()
    peak = cam.max()
    return (cam / peak).numpy() if peak > 0 else cam.numpy()


def hottest_slice(image: np.ndarray, heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D (image, heat) to draw: the axial slice where the heat map is strongest, for volumes."""
    grey = image[0]
    if heat.ndim == 2:
        return grey, heat
    z = int(np.argmax(heat.reshape(heat.shape[0], -1).sum(1)))
    return grey[z], heat[z]
