"""Exact BatchNorm statistics from training batches before validation."""

from __future__ import annotations

import torch
from torch import nn

from medimg.train.batchnorm import recompute_batchnorm


def _loader(batches: list[torch.Tensor]):
    return [(x, torch.zeros(len(x), dtype=torch.long)) for x in batches]


def test_running_statistics_become_the_average_of_the_batch_statistics():
    torch.manual_seed(0)
    batches = [torch.randn(8, 3, 6, 6) * 2 + 5 for _ in range(5)]
    trained, frozen = nn.BatchNorm2d(3, momentum=0.01), nn.BatchNorm2d(3)
    model = nn.Sequential(trained, frozen)
    model.train()
    frozen.eval()
    frozen_before = frozen.running_mean.clone()
    assert recompute_batchnorm(model, _loader(batches), torch.device("cpu"), batches=4) == 1
    means = torch.stack([b.mean((0, 2, 3)) for b in batches[:4]]).mean(0)
    variances = torch.stack([b.var((0, 2, 3), unbiased=True) for b in batches[:4]]).mean(0)
    torch.testing.assert_close(trained.running_mean, means)
    torch.testing.assert_close(trained.running_var, variances)
    assert trained.momentum == 0.01  # restored for the next epoch's training
    torch.testing.assert_close(
        frozen.running_mean, frozen_before
    )  # a frozen group keeps its statistics


def test_after_recompute_eval_mode_matches_train_mode_on_the_same_data():
    """The failure it fixes: with momentum 0.01 the running variance is still near its initial 1.0."""
    torch.manual_seed(1)
    data = torch.randn(64, 2, 4, 4) * 0.05 + 0.3
    bn = nn.BatchNorm2d(2, momentum=0.01)
    bn.train()
    for _ in range(20):
        bn(data)
    bn.eval()
    lagging = (bn(data) - nn.functional.batch_norm(data, None, None, training=True)).abs().max()
    bn.train()
    recompute_batchnorm(bn, _loader([data]), torch.device("cpu"), batches=1)
    bn.eval()
    exact = (bn(data) - nn.functional.batch_norm(data, None, None, training=True)).abs().max()
    assert lagging > 1.0 and exact < 0.05


def test_zero_batches_or_no_batchnorm_changes_nothing():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.InstanceNorm2d(2))
    assert (
        recompute_batchnorm(
            model.train(), _loader([torch.randn(2, 1, 4, 4)]), torch.device("cpu"), 8
        )
        == 0
    )
    bn = nn.BatchNorm1d(3).train()
    assert recompute_batchnorm(bn, _loader([torch.randn(4, 3)]), torch.device("cpu"), 0) == 0
    torch.testing.assert_close(bn.running_var, torch.ones(3))
