import pytest
import torch

from medimg.training.checkpoint import load_checkpoint
from tasks.train import run_train


def test_each_stage_writes_a_full_checkpoint_and_unfreeze_starts_from_freeze(tiny, trained):
    params, paths = tiny
    last = load_checkpoint(paths.stage_dir("unfreeze") / "last.pt")
    assert {"model", "optimizer", "scheduler", "epoch", "rng", "history", "args", "best"} <= set(last)
    assert last["args"]["init_from"].endswith("freeze/ckpt.pt")
    assert trained["freeze"]["epochs_run"] == 1 and trained["unfreeze"]["device"] == "cpu"


def test_freeze_stage_changes_only_the_head(tiny, trained):
    params, paths = tiny
    from medimg.models import build_model

    torch.manual_seed(params.train.seed)
    fresh = build_model(params.model).state_dict()
    frozen = load_checkpoint(paths.stage_dir("freeze") / "ckpt.pt")["model"]
    for name, value in frozen.items():
        if name.startswith("head."):
            continue
        # weights and BatchNorm running statistics alike: a frozen backbone must not move
        assert torch.equal(value, fresh[name]), f"{name} changed in a frozen backbone"


class Crash(RuntimeError):
    pass


def test_resume_after_a_crash_reaches_the_same_weights(tiny, preprocessed, tmp_path, monkeypatch):
    params, paths = tiny
    two_epochs = params.model_copy(update={"train": params.train.model_copy(update={"stages": [
        params.train.stages[0].model_copy(update={"name": "resumable", "epochs": 2})]})})
    from medimg.layout import ProjectPaths

    def paths_in(folder):
        return ProjectPaths(root=paths.root, raw=paths.raw, interim=paths.interim, processed=paths.processed,
                            models=tmp_path / folder, reports=tmp_path / "r", artifacts=tmp_path / "a")

    run_train(two_epochs, paths_in("straight"), "resumable")

    from medimg.training import loop
    original = loop.StageRun.run

    def crash_after_first_epoch(self, resume, on_epoch=lambda r: None):
        def hook(record):
            on_epoch(record)
            raise Crash("killed after epoch 0")
        return original(self, resume, on_epoch=hook)

    monkeypatch.setattr(loop.StageRun, "run", crash_after_first_epoch)
    with pytest.raises(Crash):
        run_train(two_epochs, paths_in("crashed"), "resumable")
    monkeypatch.setattr(loop.StageRun, "run", original)
    assert load_checkpoint(tmp_path / "crashed" / "resumable" / "last.pt")["epoch"] == 0
    run_train(two_epochs, paths_in("crashed"), "resumable", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "resumable" / "last.pt")
    b = load_checkpoint(tmp_path / "crashed" / "resumable" / "last.pt")
    assert b["epoch"] == 1 and len(b["history"]) == 2
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
