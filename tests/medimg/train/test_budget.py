"""The plan's compute budget: a 3D U-Net timed on this machine, its epochs fitted to the minutes."""

import torch

from medimg.config.loading import load_params
from medimg.config.presets import use_preset
from medimg.train.budget import fit_budget
from medimg.train.device import cpu_has_native_bf16, resolve_precision
from tests.conftest import REPO


def _params(tmp_path, minutes):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    use_preset("ct-seg-3d", path)
    return load_params(
        path,
        [
            "model.width=4",
            "train.device=cpu",
            f"plan.cpu_minutes_per_fold={minutes}",
            "train.stages[1].epochs=3",
        ],
    )


PLAN = {
    "patch_size": [16, 16, 16],
    "batch_size": 2,
    "pool_strides": [[2, 2, 2]] * 2,
    "p90_shape_at_target_spacing": [20.0, 16.0, 30.0],  # 2 x 1 x 3 windows at overlap 0.5
}


def test_a_cpu_budget_fills_the_minutes_per_fold_and_no_more(tmp_path):
    budget = fit_budget(_params(tmp_path, 0.1), PLAN, cases=20)
    assert budget["device"] == "cpu" and budget["epochs"] == 3
    step, batches = budget["seconds_per_batch"], budget["batches_per_epoch"]
    # 20 cases in 5 folds: 4 validated per epoch, 6 windows each, a forward a third of a step / 2
    assert abs(budget["validation_seconds_per_epoch"] - 4 * 6 * step / 3 / 2) < 0.1
    allowed = 0.1 * 60 - 3 * budget["validation_seconds_per_epoch"]
    assert batches * 3 * step <= allowed * 1.01  # the step is rounded to 0.1 ms in the plan
    assert batches in (1, 250) or (batches + 1) * 3 * step > allowed * 0.99
    # twice the minutes, more batches (over twice as many: validation takes the same time)
    more = fit_budget(_params(tmp_path, 0.2), PLAN, cases=20)["batches_per_epoch"]
    assert more >= min(1.5 * batches, 250)


def test_auto_precision_on_a_cpu_is_bf16_only_for_volumes_where_the_cpu_has_it():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None
    expected = torch.bfloat16 if cpu_has_native_bf16() else None
    assert resolve_precision("auto", cpu, cpu_bf16=True) == expected


def test_a_budget_too_small_for_enough_steps_narrows_an_unpinned_unet(tmp_path):
    params = _params(tmp_path, 0.05)  # 3 s: far under 1000 steps at any width
    narrow = fit_budget(params, PLAN, cases=20, width_pinned=False)
    assert narrow["width"] == 8 and "halved from 32" in narrow["rule"]
    roomy = fit_budget(_params(tmp_path, 600), PLAN, cases=20, width_pinned=False)
    assert roomy["width"] == 32 and roomy["batches_per_epoch"] == 250
    pinned = fit_budget(params, PLAN, cases=20, width_pinned=True)
    assert pinned["width"] == 4  # params.yaml's width is kept whatever the budget


def test_a_roomy_budget_never_makes_epochs_longer_than_nnunets(tmp_path):
    budget = fit_budget(_params(tmp_path, 600), PLAN, cases=20, width_pinned=True)
    assert budget["batches_per_epoch"] == 250
    assert budget["expected_minutes_per_fold"] < 600
