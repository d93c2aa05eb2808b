"""The training sections are checked against the model catalog before any work."""

import pytest
import yaml

from medimg.config.loading import load_params
from medimg.config.schema import ParamsError
from medimg.pipeline.checks import check_dvc_train_stages
from tests.conftest import REPO
from tests.medimg.config.test_params import write


@pytest.mark.parametrize(
    "mutate, key",
    [
        (
            lambda r: r["train"]["stages"][1].update(trainable="layer9"),
            "train.stages[1].trainable: 'layer9'",
        ),
        (
            lambda r: r["train"]["stages"][1].update(lr_groups={"block3": 1e-4}),
            "train.stages[1].lr_groups",
        ),
        (
            lambda r: r["train"]["stages"][0].update(early_stopping={"metric": "dice"}),
            "train.stages[0].early_stopping.metric: dice does not fit resnet3d_18",
        ),
        (lambda r: r["loss"].update(name="dice"), "loss.name: dice does not fit resnet3d_18"),
        (
            lambda r: r["model"].update(name="unet3d"),
            "train.stages[0].early_stopping.metric: auc does not fit unet3d",
        ),
        (
            lambda r: r["model"].update(init="imagenet"),
            "resnet3d_18 has no published pretrained weights",
        ),
        (lambda r: r["train"]["stages"][1].pop("lr_backbone"), "neither lr_backbone nor lr_groups"),
        (
            lambda r: r["train"]["stages"][1].update(schedule="plateau"),
            "warmup_epochs works with schedule cosine",
        ),
        (lambda r: r["train"].update(precision="fp8"), "train.precision"),
        (lambda r: r["train"]["mix"].update(method="mosaic"), "train.mix.method"),
    ],
)
def test_training_params_that_do_not_fit_the_model_name_the_key(tmp_path, mutate, key):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, mutate))
    assert key in str(err.value)


def test_a_table_of_group_learning_rates_replaces_lr_backbone(tmp_path):
    def table(raw):
        stage = raw["train"]["stages"][1]
        stage.pop("lr_backbone")
        stage.update(trainable="layer3", lr_groups={"layer3": 1e-5, "layer4": 1e-4})

    params = load_params(write(tmp_path, table))
    assert params.train.stages[1].lr_groups == {"layer3": 1e-5, "layer4": 1e-4}


def test_dvc_stages_must_match_the_training_stages(tmp_path):
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = load_params(REPO / "params.yaml")
    assert check_dvc_train_stages(params, tmp_path) == []
    three = load_params(
        write(
            tmp_path,
            lambda r: r["train"]["stages"].append({**r["train"]["stages"][1], "name": "finetune"}),
        )
    )
    problems = check_dvc_train_stages(three, tmp_path)
    assert problems and "'finetune' has no dvc.yaml stage train_finetune" in problems[0]
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    dvc["stages"]["train_unfreeze"]["cmd"] = "medimg run train --stage freeze"
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    assert any("train_unfreeze must run" in p for p in check_dvc_train_stages(params, tmp_path))
