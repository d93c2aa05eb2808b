import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from medimg.config.loading import check_paths, load_params
from medimg.config.schema import Params, ParamsError
from tests.conftest import REPO


def write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repo_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert [s.name for s in params.train.stages] == ["freeze", "unfreeze"]
    assert params.preprocess.window.bounds() == (-1000.0, 400.0)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda r: r["train"].update(epoch=3), "train.epoch: unknown key"),
        (lambda r: r["train"]["stages"][1].update(epochs="many"), "train.stages[1].epochs"),
        (lambda r: r["train"]["stages"][0].update(epochs=0), "train.stages[0].epochs"),
        (
            lambda r: r["split"].update(ratios={"train": 0.5, "val": 0.2, "test": 0.2}),
            "split.ratios: ratios must sum to 1",
        ),
        (lambda r: r["model"].update(name="resnet9000"), "model.name"),
        (
            lambda r: r["preprocess"].update(window={"preset": None, "level": 40, "width": 0}),
            "preprocess.window.width",
        ),
        (lambda r: r["data"].update(class_names=["a", "b", "c"]), "model.num_classes is 2"),
        (lambda r: r.update(extra_section={}), "extra_section: unknown key"),
    ],
)
def test_invalid_params_name_the_key(tmp_path, mutate, key):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, mutate))
    assert key in str(err.value)


def test_override_sets_nested_list_items():
    params = load_params(
        REPO / "params.yaml", ["train.stages[1].epochs=2", "preprocess.window.preset=bone"]
    )
    assert params.train.stages[1].epochs == 2
    assert params.preprocess.window.bounds() == (-500.0, 1300.0)
    with pytest.raises(ParamsError, match="no key 'train.nope'"):
        load_params(REPO / "params.yaml", ["train.nope.x=1"])


def test_missing_raw_folder_is_reported_unless_the_demo_makes_it(tmp_path):
    assert (
        check_paths(load_params(REPO / "params.yaml"), tmp_path) == []
    )  # the demo stage creates it
    params = load_params(write(tmp_path, lambda r: r["data"].update(raw_dir="data/raw/site-a")))
    assert any(
        "data.raw_dir" in p and "data/raw/site-a" in p for p in check_paths(params, tmp_path)
    )


def test_cli_rejects_bad_params_fast_without_traceback(tmp_path):
    path = write(tmp_path, lambda r: r["train"]["stages"][0].update(lr_head="fast"))
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "medimg", "run", "ingest", "--params", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert time.perf_counter() - tic < 5
    assert proc.returncode == 2
    assert "train.stages[0].lr_head" in proc.stderr and "Traceback" not in proc.stderr


def test_class_names_from_dataset_come_from_dataset_json_unless_params_list_them(tmp_path):
    import json

    import yaml

    from medimg.config.loading import load_params
    from medimg.config.schema import ParamsError

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(raw_dir="data/raw/liver", class_names="from_dataset")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="data.class_names is from_dataset, but .*dataset.json"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "data/raw/liver").mkdir(parents=True)
    (tmp_path / "data/raw/liver/dataset.json").write_text(
        json.dumps({"labels": {"background": 0, "liver": 1, "tumour": 2}})
    )
    loaded = load_params(tmp_path / "params.yaml")
    assert loaded.data.class_names == ["background", "liver", "tumour"]
    assert loaded.model.num_classes == 3  # params.yaml says 2: the outputs follow the names
    listed = load_params(tmp_path / "params.yaml", ["data.class_names=[absent, present]"])
    assert listed.data.class_names == ["absent", "present"]


def test_evaluating_on_val_with_folds_is_a_params_error():
    import yaml

    from tests.conftest import REPO

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["split"]["folds"] = 5
    raw["evaluate"]["split"] = "val"
    with pytest.raises(ValueError, match="k-fold training has no val split"):
        Params.model_validate(raw)
