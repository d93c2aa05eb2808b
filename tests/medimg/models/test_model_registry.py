"""Every registered model: built with its catalogued groups, trained one stage (forward, backward,
checkpoint), resumed after an interruption to the same weights, on tiny in-memory data."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from medimg.config.catalog import CATALOG
from medimg.config.schema import LossParams, ModelParams, StageParams, TrainParams
from medimg.models import build_model
from medimg.train.checkpoint import load_checkpoint
from medimg.train.datasets import make_loader
from medimg.train.device import pick_device
from medimg.train.loop import StageRun, seed_everything
from medimg.train.optim import apply_trainable

pytestmark = pytest.mark.slow  # see tests/conftest.py: left out of the fast loop


class TinyItems(Dataset):
    """Images whose class (or mask) is a bright square, so a few steps can learn something."""

    def __init__(self, count: int, ndim: int, task: str, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        size = (32,) * 3 if ndim == 3 else (64, 64)
        self.images = torch.randn(count, 1, *size, generator=g) * 0.1
        self.labels = torch.arange(count) % 2
        self.masks = torch.zeros(count, *size, dtype=torch.long)
        for i in range(count):
            box = (slice(8, 20),) * ndim
            if self.labels[i]:
                self.images[(i, 0, *box)] += 1.0
                self.masks[(i, *box)] = 1
        self.task = task

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], (
            int(self.labels[i]) if self.task == "classification" else self.masks[i]
        )


def _stage_run(name: str, folder, epochs: int, resume_state=None) -> StageRun:
    info = CATALOG[name]
    seed_everything(0, True)
    spec = ModelParams(name=name, width=4, head_hidden=8, pool_sizes=[1, 2])
    model = build_model(spec)
    trainable = info.groups[
        -1
    ]  # unfreeze from the last group: frozen and trained parts both exercised
    stage = StageParams(
        name="tiny",
        epochs=epochs,
        trainable=trainable,
        lr_backbone=1e-3,
        early_stopping={
            "metric": "auc" if info.task == "classification" else "dice",
            "patience": 5,
            "ema": 0.5,  # the moving average must carry over a resume too
        },
    )
    apply_trainable(model, stage)
    loss = LossParams(name="cross_entropy" if info.task == "classification" else "ce_dice")
    train = TinyItems(4, info.ndim, info.task, 1)
    val = TinyItems(2, info.ndim, info.task, 2)
    folder.mkdir(parents=True, exist_ok=True)
    return StageRun(
        model=model,
        stage=stage,
        train_params=TrainParams(batch_size=2, stages=[stage]),
        task=info.task,
        train_loader=make_loader(train, 2, 0, 0, True),
        val_loader=make_loader(val, 2, 0, 0, False),
        device=pick_device("cpu"),
        stage_dir=folder,
        seed=0,
        args={"model": name},
        loss=loss,
        augment=None,
        resume_state=resume_state,
    )


class Interrupt(RuntimeError):
    pass


def _interrupt(record):
    raise Interrupt("stopped after the first epoch")


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_model_trains_checkpoints_and_resumes_to_the_same_weights(name, tmp_path):
    straight = _stage_run(name, tmp_path / "straight", 2)
    assert tuple(g for g, _ in straight.model.backbone_groups()) == CATALOG[name].groups
    initial = {k: v.clone() for k, v in straight.model.state_dict().items()}
    result = straight.run()
    assert result["epochs_run"] == 2 and (tmp_path / "straight" / "ckpt.pt").exists()
    first = straight.history[0]
    assert set(first) >= {
        "train_loss",
        "val_loss",
        "lr_head",
        "epoch_seconds",
        "samples_per_second",
        "loader_wait_fraction",
    }
    assert 0.0 <= first["loader_wait_fraction"] < 1.0 and first["train_loss"] > 0

    interrupted = _stage_run(name, tmp_path / "resumed", 2)
    with pytest.raises(Interrupt):
        interrupted.run(on_epoch=_interrupt)
    assert not (tmp_path / "resumed" / "ckpt.pt").exists()  # the stage's output waits for its end
    state = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert state["epoch"] == 0 and {"optimizer", "scheduler", "scaler"} <= set(state)
    _stage_run(name, tmp_path / "resumed", 2, resume_state=state).run()

    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), f"{name}: {key} differs after resume"
    smoothed = [
        [
            r[k]
            for r in load_checkpoint(tmp_path / run / "last.pt")["history"]
            for k in r
            if "_ema" in k
        ]
        for run in ("straight", "resumed")
    ]
    assert len(smoothed[0]) == 2 and smoothed[0] == smoothed[1]
    assert any(not torch.equal(a[k], v) for k, v in initial.items() if k.startswith("head.")), (
        "training did not change the head"
    )
