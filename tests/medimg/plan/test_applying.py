"""``plan: auto``: the plan fills the planned keys params.yaml leaves out; a key the user writes wins."""

import json
import shutil

import pytest
import yaml
from pydantic import BaseModel

from medimg.config.loading import load_params
from medimg.config.presets import use_preset
from medimg.config.schema import ParamsError
from medimg.pipeline.checks import load_checked_params
from medimg.plan.applying import explicit_keys, planned_values, with_plan
from tests.conftest import REPO

PLAN = {
    "configuration": "3d",
    "target_spacing": [2.5, 0.7, 0.7],
    "patch_size": [32, 64, 64],
    "p90_shape_at_target_spacing": [40.2, 60.0, 90.0],
    "batch_size": 4,
    "poolings_per_axis": [2, 4, 4],
    "pool_strides": [[1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
    "normalisation": {"normalize": "window", "window": {"level": 70.0, "width": 260.0}},
}
# what a user leaves to the plan: the keys it proposes
PLANNED = (
    ("preprocess", "spacing"),
    ("preprocess", "window"),
    ("preprocess", "normalize"),
    ("preprocess", "target_shape"),
    ("preprocess", "shape_mode"),
    ("sampling", "patches"),
    ("train", "batch_size"),
)


def _params_file(tmp_path, plan="auto", keep=()):
    """The ct-seg-3d preset's params.yaml with ``plan`` and the planned keys left out but ``keep``."""
    path = tmp_path / "params.yaml"
    shutil.copy2(REPO / "params.yaml", path)
    use_preset("ct-seg-3d", path)
    raw = yaml.safe_load(path.read_text())
    for section, key in PLANNED:
        if (section, key) not in keep:
            raw[section].pop(key, None)
    raw["plan"] = plan
    raw["data"]["raw_dir"] = "raw"
    path.write_text(yaml.safe_dump(raw))
    (tmp_path / "raw").mkdir(exist_ok=True)
    return path


def test_explicit_keys_are_what_the_file_and_the_overrides_name(tmp_path):
    params = load_params(_params_file(tmp_path), ["train.batch_size=3"])
    keys = explicit_keys(params)
    assert {"preprocess.crop", "train.batch_size", "model.name"} <= keys
    assert "preprocess.spacing" not in keys and "sampling.patches.size" not in keys


def test_the_plan_fills_what_params_leave_out_and_a_written_key_wins(tmp_path):
    params = load_params(_params_file(tmp_path), ["train.batch_size=3"])
    assert params.plan.use == "auto"  # `plan: auto` is short for {use: auto}
    planned = with_plan(params, PLAN)
    assert planned.train.batch_size == 3  # the user's
    assert planned.preprocess.spacing == [2.5, 0.7, 0.7]
    assert planned.sampling.patches.size == [32, 64, 64]
    # cases cut or padded to the 90th-percentile shape, never smaller than the patch
    assert planned.preprocess.target_shape == [41, 64, 90]
    assert planned.preprocess.shape_mode == "crop_pad"
    assert planned.model.pool_strides == PLAN["pool_strides"]
    assert planned.preprocess.window.level == 70.0 and planned.preprocess.window.preset is None


def test_a_window_the_user_names_is_kept_whole(tmp_path):
    path = _params_file(tmp_path, keep=(("preprocess", "window"),))
    params = load_params(path, ["preprocess.window.preset=abdomen"])
    assert not any(key.startswith("preprocess.window") for key in planned_values(PLAN, params))
    assert with_plan(params, PLAN).preprocess.window.preset == "abdomen"


def test_only_the_steps_after_the_plan_read_it_and_a_missing_plan_says_how_to_make_it(tmp_path):
    _params_file(tmp_path, plan={"use": "auto", "memory": "cpu"})
    with pytest.raises(ParamsError, match="plan.json does not exist: run `medimg run plan`"):
        load_checked_params("params.yaml", root=tmp_path, step="preprocess")
    ingest = load_checked_params("params.yaml", root=tmp_path, step="ingest")
    assert ingest.preprocess.spacing is None
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/plan.json").write_text(json.dumps(PLAN))
    for step in ("preprocess", "train", "evaluate", "export"):
        params = load_checked_params("params.yaml", root=tmp_path, step=step)
        assert params.preprocess.spacing == [2.5, 0.7, 0.7], step


def test_with_plan_manual_the_plan_is_advice_only(tmp_path):
    _params_file(tmp_path, plan="manual")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/plan.json").write_text(json.dumps(PLAN))
    params = load_checked_params("params.yaml", root=tmp_path, step="preprocess")
    assert params.plan.use == "manual" and params.preprocess.spacing is None


class _Reads:
    """Wraps a params section and records every dotted key read through it."""

    def __init__(self, node, path: str, seen: set[str]) -> None:
        self._node, self._path, self._seen = node, path, seen

    def __getattr__(self, name):
        value = getattr(self._node, name)
        key = f"{self._path}.{name}" if self._path else name
        if isinstance(value, BaseModel):
            return _Reads(value, key, self._seen)
        self._seen.add(key)
        return value


def test_every_param_the_plan_reads_is_tracked_by_each_step_that_applies_it(tmp_path):
    from medimg.pipeline.steps import STEPS, reads_plan
    from medimg.plan.proposal import proposed_params

    params = load_params(_params_file(tmp_path))
    read: set[str] = set()
    proposed_params(PLAN, _Reads(params, "", read))
    read |= {"plan.use"}  # planned_params decides on it
    assert "model.name" in read  # the proposal depends on the model's family
    for step in STEPS:
        if not reads_plan(step.name):
            continue
        untracked = [
            k for k in read if not any(k == p or k.startswith(p + ".") for p in step.params)
        ]
        assert not untracked, f"{step.name} applies the plan but does not track {untracked}"


def test_a_planned_compute_budget_sets_the_batches_per_epoch_unless_the_user_does(tmp_path):
    budgeted = {**PLAN, "budget": {"batches_per_epoch": 17}}
    kept = (("sampling", "patches"),)  # the preset's patches, without batches_per_epoch
    params = load_params(_params_file(tmp_path, keep=kept))
    assert with_plan(params, budgeted).sampling.patches.batches_per_epoch == 17
    pinned = load_params(
        _params_file(tmp_path, keep=kept), ["sampling.patches.batches_per_epoch=40"]
    )
    assert with_plan(pinned, budgeted).sampling.patches.batches_per_epoch == 40


PICTURE_PLAN = {
    "configuration": "2d",
    "target_spacing": [5.0, 5.0],
    "pixel_scale": 5.0,
    "patch_size": [128, 160],
    "p90_shape_at_target_spacing": [115.2, 153.6],
    "batch_size": 5,
    "poolings_per_axis": [5, 5],
    "pool_strides": [[2, 2]] * 5,
    "conv_kernels": [[3, 3]] * 6,
    "normalisation": {"normalize": "percentile_zscore"},
    "budget": {"batches_per_epoch": 43, "width": 16},
}


def _skin_params(tmp_path, overrides=()):
    path = tmp_path / "params.yaml"
    shutil.copy2(REPO / "params.yaml", path)
    use_preset("skin-lesion-seg", path)
    return load_params(path, list(overrides))


def test_a_key_written_as_null_is_the_plans_to_fill(tmp_path):
    params = _skin_params(tmp_path)  # the preset writes every key, the planned ones null
    keys = explicit_keys(params)
    assert {"preprocess.photo.size", "model.width", "train.batch_size"}.isdisjoint(keys)
    planned = with_plan(params, PICTURE_PLAN)
    assert planned.preprocess.photo.size == [128, 160] and planned.train.batch_size == 5
    assert planned.model.width == 16 and planned.sampling.patches.batches_per_epoch == 43
    assert planned.model.pool_strides == [[2, 2]] * 5
    pinned = with_plan(_skin_params(tmp_path, ["model.width=8"]), PICTURE_PLAN)
    assert pinned.model.width == 8  # a value the user writes wins over the plan's


def test_a_null_only_the_plan_can_fill_fails_under_manual_or_a_plan_without_it(tmp_path):
    with pytest.raises(ParamsError, match="preprocess.photo.size: null leaves it to the plan"):
        _skin_params(tmp_path, ["plan.use=manual"])
    unbudgeted = {k: v for k, v in PICTURE_PLAN.items() if k != "budget"}
    with pytest.raises(ParamsError, match="model.width: null leaves it to the plan, but"):
        with_plan(_skin_params(tmp_path), unbudgeted)
