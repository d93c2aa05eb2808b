"""Data-parallel training under torchrun: one process per GPU (or per CPU slot, with gloo).

The same entry point runs alone or under ``torchrun --nproc_per_node N``; torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK) switches DistributedDataParallel on. Only rank 0 writes checkpoints
and talks to MLflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> Ranks:
    """Join torchrun's process group if launched by it (NCCL on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    ranks = Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group(backend)
    return ranks


def shard_sampler(dataset: Dataset, ranks: Ranks, seed: int) -> DistributedSampler:
    """Each rank draws its own share of a seeded shuffle; ``set_epoch`` reshuffles per epoch."""
    return DistributedSampler(
        dataset,
        num_replicas=ranks.world_size,
        rank=ranks.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    if not ranks.distributed:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
