import json
import os
import subprocess
import sys

import pytest
import torch

from medimg.train.checkpoint import load_checkpoint

# three epochs that train every layer; tracking off so each subprocess starts quickly
STAGE = [
    "--set",
    "train.stages[0].epochs=4",
    "--set",
    "train.stages[0].trainable=all",
    "--set",
    "train.stages[0].lr_backbone=0.001",
    "--set",
    "tracking.enabled=false",
]


def test_each_stage_writes_a_full_checkpoint_and_unfreeze_starts_from_freeze(tiny, trained):
    params, paths = tiny
    last = load_checkpoint(paths.stage_dir("unfreeze") / "last.pt")
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "history", "args", "best"} <= set(
        last
    )
    assert last["args"]["init_from"].endswith("freeze/ckpt.pt")
    assert trained["freeze"]["epochs_run"] == 1 and trained["unfreeze"]["device"] == "cpu"
    assert (paths.stage_dir("unfreeze") / "curves.png").read_bytes()[:4] == b"\x89PNG"


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


def _train(root, models_dir, *extra):
    command = [
        sys.executable,
        "-m",
        "medimg",
        "run",
        "train",
        "--stage",
        "freeze",
        *STAGE,
        "--set",
        f"data.models_dir={models_dir}",
        *extra,
    ]
    return subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )


@pytest.mark.slow
def test_changed_params_start_the_stage_afresh_instead_of_resuming(tiny, preprocessed):
    params, paths = tiny
    first = _train(paths.root, "models_changed")
    assert first.wait(timeout=300) == 0
    again = _train(paths.root, "models_changed", "--set", "train.stages[0].lr_head=0.002")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads(out)["resumed"] is False


@pytest.mark.slow
def test_torchrun_trains_data_parallel_on_two_cpu_processes(tiny, preprocessed):
    params, paths = tiny
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "medimg",
        "run",
        "train",
        "--stage",
        "freeze",
        *STAGE,
        "--set",
        "data.models_dir=models_ddp",
        "--set",
        "train.stages[0].epochs=2",
    ]
    done = subprocess.run(
        command,
        cwd=paths.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((paths.root / "models_ddp" / "freeze" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 2
    assert load_checkpoint(paths.root / "models_ddp" / "freeze" / "ckpt.pt")["epoch"] in (0, 1)


def test_mlflow_nests_every_stage_under_one_pipeline_run_with_curves_and_the_checkpoint(
    tiny, trained, evaluated
):
    import mlflow

    params, paths = tiny
    client = mlflow.MlflowClient(tracking_uri=params.tracking.uri)
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    parent = next(r for name, r in runs.items() if name.startswith("pipeline-"))
    for child in ("train-freeze", "train-unfreeze", "evaluate"):
        assert runs[child].data.tags["mlflow.parentRunId"] == parent.info.run_id, child
    unfreeze = runs["train-unfreeze"]
    assert {
        "val_auc",
        "val_loss",
        "train_loss",
        "lr_head",
        "lr_layer4",
        "lr_stem",
        "epoch_seconds",
        "samples_per_second",
    } <= set(unfreeze.data.metrics)
    assert unfreeze.data.params["train.stages.1.name"] == "unfreeze"
    artifacts = {
        a.path
        for folder in ("plots", "checkpoints")
        for a in client.list_artifacts(unfreeze.info.run_id, folder)
    }
    assert artifacts == {"plots/curves.png", "checkpoints/ckpt.pt"}


def test_a_3d_unet_trains_on_the_cached_masks_with_dice_for_early_stopping(
    tiny, preprocessed, tmp_path
):
    from medimg.config.loading import load_params
    from medimg.config.paths import ProjectPaths
    from tasks.train import run_train

    params, paths = tiny
    seg = load_params(
        paths.root / "params.yaml",
        [
            "model.name=unet3d",
            "loss.name=ce_dice",
            "tracking.enabled=false",
            f"data.models_dir={tmp_path}",
            "train.stages[0].early_stopping.metric=dice",
            "train.stages[1].early_stopping.metric=dice",
        ],
    )
    project = ProjectPaths.from_params(seg, paths.root)
    # a U-Net from scratch has nothing to freeze: the freeze stage passes its weights on and says why
    skipped = run_train(seg, project, "freeze")
    assert skipped["trained"] is False and "nothing to freeze" in skipped["reason"]
    assert (tmp_path / "freeze" / "ckpt.pt").exists()
    result = run_train(seg, project, "unfreeze")
    assert result["model"] == "unet3d" and 0.0 <= result["best_val_dice"] <= 1.0
    history = json.loads((tmp_path / "unfreeze" / "history.json").read_text())["history"]
    assert "val_dice" in history[0] and "val_auc" not in history[0]
