"""Workload presets: each is valid with the repo's dvc.yaml, switching is order-independent, and the
user's comments and other settings survive."""

from __future__ import annotations

import shutil
from itertools import product

import pytest
import yaml

from medimg.cli import main
from medimg.config.loading import load_params
from medimg.config.presets import leaf_paths, load_preset, preset_names, use_preset
from medimg.config.schema import ParamsError
from medimg.pipeline.checks import check_dvc_train_stages
from tests.conftest import REPO

WORKLOADS = {
    "fundus-dr": ("resnet50", "classification"),
    "ct-nodule-cls": ("resnet3d_18", "classification"),
    "ct-seg-2d": ("pspnet_resnet18", "segmentation"),
    "ct-seg-3d": ("unet3d", "segmentation"),
    "skin-lesion-seg": ("unet2d", "segmentation"),
}


@pytest.fixture()
def params_copy(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    return tmp_path / "params.yaml"


def test_there_is_a_preset_per_workload_and_each_sets_the_same_keys():
    assert set(WORKLOADS) <= set(preset_names())
    keys = {name: leaf_paths(load_preset(name)) for name in preset_names()}
    reference = keys["ct-nodule-cls"]
    for name, paths in keys.items():
        assert paths == reference, (
            f"{name}: sets {sorted(paths ^ reference)} differently from ct-nodule-cls"
        )


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_each_preset_gives_valid_params_that_fit_the_dvc_stages(params_copy, name):
    params = use_preset(name, params_copy)
    assert params.model.name == WORKLOADS[name][0]
    assert load_params(params_copy) == params
    assert check_dvc_train_stages(params, params_copy.parent) == []
    text = params_copy.read_text()
    assert "# your own data: dvc add data/raw/<name>, then point here" in text  # comments survive
    assert "# each stage is its own DVC stage" in text


def test_switching_is_order_independent(params_copy, tmp_path):
    direct = {}
    for name in preset_names():
        shutil.copy(REPO / "params.yaml", params_copy)
        use_preset(name, params_copy)
        direct[name] = yaml.safe_load(params_copy.read_text())
    for first, second in product(preset_names(), repeat=2):
        shutil.copy(REPO / "params.yaml", params_copy)
        use_preset(first, params_copy)
        use_preset(second, params_copy)
        assert yaml.safe_load(params_copy.read_text()) == direct[second], (first, second)


def test_the_repo_params_are_the_ct_nodule_preset_and_keep_user_settings(params_copy):
    before = params_copy.read_text()
    use_preset("ct-nodule-cls", params_copy)
    assert params_copy.read_text() == before
    raw = yaml.safe_load(before)
    raw["tracking"]["uri"] = "sqlite:///elsewhere.db"
    raw["orchestration"]["retries"] = 5
    params_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    params = use_preset("fundus-dr", params_copy)
    assert params.tracking.uri == "sqlite:///elsewhere.db" and params.orchestration.retries == 5


def test_unknown_preset_or_an_invalid_result_fails_and_leaves_the_file_alone(params_copy):
    with pytest.raises(ParamsError, match="choose one of .*fundus-dr"):
        use_preset("nope", params_copy)
    raw = yaml.safe_load(params_copy.read_text())
    raw["split"]["ratios"]["test"] = 0.9
    params_copy.write_text(yaml.safe_dump(raw))
    before = params_copy.read_text()
    with pytest.raises(ParamsError, match="split.ratios"):
        use_preset("ct-seg-3d", params_copy)
    assert params_copy.read_text() == before


def test_cli_lists_and_uses_presets(params_copy, capsys):
    assert main(["params", "presets"]) == 0
    assert "fundus-dr" in capsys.readouterr().out
    assert main(["params", "use", "ct-seg-3d", "--params", str(params_copy)]) == 0
    assert "now preset ct-seg-3d" in capsys.readouterr().out
    assert main(["params", "use", "missing", "--params", str(params_copy)]) == 2
