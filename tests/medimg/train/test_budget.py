"""The plan's compute budget: a 3D U-Net timed on this machine, its epochs fitted to the minutes."""

import torch

from medimg.config.loading import load_params
from medimg.config.presets import use_preset
from medimg.train.budget import epoch_batches, fit_budget
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


def test_the_epochs_share_what_validation_leaves_of_the_minutes():
    # 10 min, 25 epochs validating 4 s each: 500 s of steps of 0.5 s = 40 batches per epoch
    assert epoch_batches(0.5, 4.0, 10, 25) == (40, 40)
    assert epoch_batches(0.5, 4.0, 20, 25)[0] == 88  # twice the minutes: over twice the batches
    assert epoch_batches(0.5, 30.0, 10, 25) == (1, -12)  # validation alone overruns: one batch
    assert epoch_batches(0.001, 0.0, 10, 25)[0] == 250  # never longer than nnU-Net's epoch


def test_a_cpu_budget_is_timed_on_this_machine_and_fits_its_own_figures(tmp_path):
    budget = fit_budget(_params(tmp_path, 0.1), PLAN, cases=20)
    assert budget["device"] == "cpu" and budget["epochs"] == 3 and budget["width"] == 4
    step, validating = budget["seconds_per_batch"], budget["validation_seconds_per_epoch"]
    # 20 cases in 5 folds: 4 validated per epoch, 6 windows each, a forward a third of a step / 2
    assert abs(validating - 4 * 6 * step / 3 / 2) < 0.1
    # the plan rounds its figures (seconds per batch to 0.1 ms, validation to 0.1 s): the batches
    # lie between what the rounded figures' extremes give
    fewest = epoch_batches(step + 5e-5, validating + 0.05, 0.1, 3)[0]
    most = epoch_batches(step - 5e-5, validating - 0.05, 0.1, 3)[0]
    assert fewest <= budget["batches_per_epoch"] <= most
    assert most - fewest < budget["batches_per_epoch"]  # a bound that still says something


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


def _picture_budget(tmp_path, minutes, width_pinned=True):
    import functools

    from medimg.plan.planner import make_plan

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    use_preset("skin-lesion-seg", path)
    params = load_params(
        path,
        [
            "model.width=4",
            "train.device=cpu",
            f"plan.cpu_minutes_per_fold={minutes}",
            "train.stages[1].epochs=3",
        ],
    )
    size = {"median": [256, 320], "p10": [256, 320], "p50": [256, 320], "p90": [256, 320]}
    photos = {
        "cases": 40,
        "ndim": 2,
        "modality": "photo",
        "spacing": {k: [1.0, 1.0] for k in ("median", "p10", "p50", "p90")},
        "size_after_crop": size,
        "label_voxel_fraction": {"0": 0.7, "1": 0.3},
    }
    replan = functools.partial(make_plan, photos, 8.0)
    return fit_budget(params, replan(), 40, width_pinned=width_pinned, replan=replan)


def test_a_picture_budget_shrinks_the_pictures_then_narrows_the_unet_never_under_128_pixels(
    tmp_path,
):
    tight = _picture_budget(tmp_path, 0.01, width_pinned=False)  # 0.6 s: nothing fits
    assert tight["pixel_scale"] == 2.0 and tight["patch_size"] == [128, 160]
    assert "pictures 2x coarser" in tight["rule"] and tight["width"] == 8
    roomy = _picture_budget(tmp_path, 100_000)  # any timing, however noisy: the whole picture
    assert roomy["pixel_scale"] == 1.0 and roomy["patch_size"] == [256, 320]
    assert roomy["width"] == 4  # params.yaml's
    assert roomy["batches_per_epoch"] == 250  # nnU-Net's epoch caps it, not the minutes
