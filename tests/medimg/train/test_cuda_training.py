"""Training on a GPU: mixed precision, channels-last, the same loop as on CPU. Skipped where there
is no CUDA device (CI); run on a GPU machine with `pytest tests/medimg/train/test_cuda_training.py`."""

from __future__ import annotations

import pytest
import torch

from medimg.config.catalog import CATALOG
from medimg.config.schema import LossParams, ModelParams, StageParams, TrainParams
from medimg.models import build_model
from medimg.train.datasets import make_loader
from medimg.train.device import pick_device
from medimg.train.loop import StageRun, seed_everything
from medimg.train.optim import apply_trainable
from tests.medimg.models.test_model_registry import TinyItems

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _train(name: str, precision: str, folder) -> tuple[StageRun, dict]:
    seed_everything(0, False)
    model = build_model(ModelParams(name=name, width=8, head_hidden=8))
    task, ndim = CATALOG[name].task, CATALOG[name].ndim
    stage = StageParams(
        name="cuda",
        epochs=3,
        trainable="all",
        lr_backbone=3e-3,
        lr_head=3e-3,
        early_stopping={"metric": "dice" if task == "segmentation" else "auc", "patience": 5},
    )
    apply_trainable(model, stage)
    folder.mkdir(parents=True)
    train = TrainParams(batch_size=4, precision=precision, stages=[stage])
    run = StageRun(
        model=model,
        stage=stage,
        train_params=train,
        task=task,
        train_loader=make_loader(TinyItems(16, ndim, task, 1), 4, 0, 0, True),
        val_loader=make_loader(TinyItems(8, ndim, task, 2), 4, 0, 0, False),
        device=pick_device("auto"),
        stage_dir=folder,
        seed=0,
        args={"model": name},
        loss=LossParams(name="cross_entropy" if task == "classification" else "ce_dice"),
    )
    return run, run.run()


@pytest.mark.parametrize("name", ["resnet3d_18", "unet3d", "resnet18"])
def test_auto_precision_trains_in_bf16_on_the_gpu(name, tmp_path):
    run, result = _train(name, "auto", tmp_path / name)
    assert result["precision"] == "bfloat16"
    assert next(run.model.parameters()).device.type == "cuda"
    losses = [r["train_loss"] for r in run.history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0], losses
    assert all(r["peak_gpu_memory_mb"] > 0 for r in run.history)


def test_fp16_uses_a_grad_scaler_and_still_learns(tmp_path):
    run, result = _train("resnet3d_18", "fp16", tmp_path / "fp16")
    assert result["precision"] == "float16"
    losses = [r["train_loss"] for r in run.history]
    assert losses[-1] < losses[0], losses
