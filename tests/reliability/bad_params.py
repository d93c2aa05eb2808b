"""Invalid params files, one per kind of mistake, each with the key its error message must name.

Used by the reliability tests and `bench/reliability.py`: every one must fail before any work, with
a message naming the key, and without a Python traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class BadParams:
    name: str
    names_key: str  # what the error message must contain
    edit: Callable[[dict], None] | None = None
    text: Callable[[str], str] | None = None  # for damage that is not valid YAML at all


def _set(path: str, value):
    def edit(params: dict) -> None:
        node = params
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[keys[-1]] = value

    return edit


def _unset(path: str):
    def edit(params: dict) -> None:
        *parents, last = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        del node[last]

    return edit


def _stage(index: int, key: str, value):
    def edit(params: dict) -> None:
        params["train"]["stages"][index][key] = value

    return edit


BAD_PARAMS: list[BadParams] = [
    BadParams("unknown_top_level_key", "trian", _set("trian", {"seed": 1})),
    BadParams("unknown_nested_key", "train.stages[0].epoch", _stage(0, "epoch", 3)),
    BadParams("wrong_type_batch_size", "train.batch_size", _set("train.batch_size", "eight")),
    BadParams("negative_epochs", "train.stages[1].epochs", _stage(1, "epochs", -2)),
    BadParams("zero_epochs", "train.stages[0].epochs", _stage(0, "epochs", 0)),
    BadParams("negative_learning_rate", "train.stages[1].lr_head", _stage(1, "lr_head", -0.001)),
    BadParams(
        "ratios_not_summing_to_1",
        "split.ratios",
        _set("split.ratios", {"train": 0.5, "val": 0.3, "test": 0.3}),
    ),
    BadParams(
        "missing_raw_folder", "data.raw_dir", _set("data.raw_dir", "data/raw/no-such-dataset")
    ),
    BadParams("unknown_model_name", "model.name", _set("model.name", "resnet9000")),
    BadParams(
        "window_width_zero",
        "preprocess.window",
        _set("preprocess.window", {"preset": None, "level": 40, "width": 0}),
    ),
    BadParams(
        "unknown_window_preset", "preprocess.window", _set("preprocess.window.preset", "liver-ish")
    ),
    BadParams(
        "class_names_do_not_fit_the_model", "class_names", _set("data.class_names", ["a", "b", "c"])
    ),
    BadParams("unknown_loss", "loss.name", _set("loss.name", "hinge")),
    BadParams("probability_above_1", "train.mix.probability", _set("train.mix.probability", 1.5)),
    BadParams(
        "target_shape_of_two_axes",
        "preprocess.target_shape",
        _set("preprocess.target_shape", [48, 48]),
    ),
    BadParams(
        "negative_target_shape",
        "preprocess.target_shape",
        _set("preprocess.target_shape", [48, -48, 48]),
    ),
    BadParams("opset_too_old", "export.opset", _set("export.opset", 7)),
    BadParams("unknown_device", "train.device", _set("train.device", "tpu")),
    BadParams("negative_retries", "orchestration.retries", _set("orchestration.retries", -1)),
    BadParams(
        "unknown_task_runner",
        "orchestration.task_runner",
        _set("orchestration.task_runner", "spark"),
    ),
    BadParams(
        "multi_node_without_rendezvous",
        "orchestration.torchrun",
        _set("orchestration.torchrun.nnodes", 2),
    ),
    BadParams("cron_not_five_fields", "retrain.cron", _set("retrain.cron", "every monday at 3")),
    BadParams(
        "unknown_time_zone", "retrain.timezone", _set("retrain.timezone", "Mars/Olympus_Mons")
    ),
    BadParams("negative_margin", "retrain.margin", _set("retrain.margin", -0.1)),
    BadParams("missing_train_section", "train", _unset("train")),
    BadParams(
        "yaml_syntax_error", "line", text=lambda text: text.replace("seed: 42", "seed: [42", 1)
    ),
    BadParams("not_a_mapping", "params.yaml", text=lambda text: "- just\n- a list\n"),
    BadParams("empty_file", "params.yaml", text=lambda text: ""),
]


def bad_params_text(case: BadParams, good_text: str) -> str:
    """The params file of ``case``, made from a good params.yaml's text."""
    if case.text is not None:
        return case.text(good_text)
    params = yaml.safe_load(good_text)
    case.edit(params)
    return yaml.safe_dump(params, sort_keys=False)
