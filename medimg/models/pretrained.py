"""Pretrained weights from the local torch cache only: nothing is downloaded at run time.

torchvision would fetch missing weights from the internet; hospital machines usually have none, and
a silent fallback to random weights would change results. So the cache is checked first, and a
missing file is a clear error that says how to fetch it once, unless params allow random init.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum, get_model_weights

log = logging.getLogger(__name__)


class PretrainedWeightsMissing(RuntimeError):
    """model.init asks for pretrained weights that are not in the local torch cache."""


def cache_file(weights: WeightsEnum) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def cached_weights(torchvision_name: str, allow_random: bool) -> WeightsEnum | None:
    """torchvision's default weights for ``torchvision_name`` if cached; None (random init) if allowed."""
    weights = get_model_weights(torchvision_name).DEFAULT
    path = cache_file(weights)
    if path.exists():
        return weights
    fetch = (
        f"python -c \"import torchvision; torchvision.models.get_model_weights('{torchvision_name}')"
        f'.DEFAULT.get_state_dict(check_hash=True)"'
    )
    message = (
        f"model.init: imagenet needs {weights} for {torchvision_name}, but {path} is not in the local torch "
        f"cache and nothing is downloaded at run time. Fetch it once on a machine with internet ({fetch}) "
        f"and copy it to {path.parent} (or point TORCH_HOME at a folder holding hub/checkpoints/{path.name})"
    )
    if not allow_random:
        raise PretrainedWeightsMissing(
            message + "; or set model.init: none for random initial weights."
        )
    log.warning(
        "%s. model.allow_random_init is true: carrying on with RANDOM initial weights.", message
    )
    return None
