"""Real dermoscopy photos through `dvc repro` as a user would run them: PH2 (../shared/data/ph2-dev).

    .venv/bin/python bench/ph2.py                                   # the preset, 5 folds
    .venv/bin/python bench/ph2.py --recipe deeplabv3                # the seed's DeepLabV3 path
    .venv/bin/python bench/ph2.py --until train_unfreeze_f0 --keep /tmp/ph2
    .venv/bin/python bench/ph2.py --set plan.cpu_minutes_per_fold=10   # a point of the curve

A fresh git + DVC project is made from this working tree with the `skin-lesion-seg` preset and
only `data.raw_dir` changed (the shared folder, read in place and never copied). `--recipe`
swaps in the other recipe's keys; `--set key=value` (YAML values) changes one key, for the
Dice-against-minutes curve. Each stage runs as `dvc repro` runs it and is timed. Printed: the
plan and its budget, seconds per stage and minutes per fold, the cross-validation table (each fold
and the ensemble, Dice with 95% intervals over patients), the Dice on the held-out photos (at the
planned size, as evaluate scores them, and at the photos' own size) and the CPU. ``--score DIR``
scores a kept project again. Skips, saying so, where the shared data are absent (a user's clone has none).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.realistic_sets import (  # noqa: E402
    commit_project,
    cpu_name,
    in_project_folder,
    preset_project,
    project_figures,
    timed_stages,
)

DATA = REPO.parent / "shared/data/ph2-dev"

# the two recipes the preset was chosen between (docs/workloads.md): the preset's own, and the
# seed's DeepLabV3-MobileNetV3 (random init offline: no ImageNet weights are fetched at run time)
RECIPES = {
    "preset": {},
    "deeplabv3": {
        "plan": "manual",
        "preprocess.photo.size": [128, 128],
        "model.name": "deeplabv3_mobilenet_v3_large",
        "model.width": 16,
        "model.deep_supervision": False,
        "model.pool_strides": None,
        "model.conv_kernels": None,
        "train.batch_size": 16,
        "train.grad_clip": 1.0,
        "train.deterministic": True,
        "evaluate.tta": [],
        "loss.name": "bce_dice",
        "train.stages": [
            {
                "name": "freeze",
                "epochs": 1,
                "trainable": "head",
                "lr_head": 0.001,
                "early_stopping": {"metric": "dice", "patience": 5, "ema": 0.0},
            },
            {
                "name": "unfreeze",
                "epochs": 12,
                "trainable": "all",
                "optimizer": "adamw",
                "lr_head": 0.002,
                "lr_backbone": 0.001,
                "layer_decay": 0.9,
                "schedule": "cosine",
                "warmup_epochs": 1,
                "early_stopping": {"metric": "dice", "patience": 6, "ema": 0.0},
            },
        ],
    },
}


def set_key(params: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = params
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def make_project(root: Path, args: argparse.Namespace) -> None:
    def edit(params: dict) -> None:
        params["data"]["raw_dir"] = str(DATA)
        params["split"]["folds"] = args.folds
        changes = dict(RECIPES[args.recipe])
        for item in args.set:
            key, _, value = item.partition("=")
            changes[key] = yaml.safe_load(value)
        for key, value in changes.items():
            set_key(params, key, value)

    preset_project(root, "skin-lesion-seg", {}, edit)
    commit_project(root)


def full_resolution_dice(root: Path) -> dict:
    """Dice of the deployed model (the folds' ensemble, the preset's mirroring) on the held-out
    photos at their own 768 x 560 pixels, as `medimg predict` answers: the planned picture's
    probabilities resized bilinearly to the photo, against the expert mask as ingested. evaluate's
    Dice is at the planned (coarser) size; this is the figure published PH2 results give."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    import torch.nn.functional as F

    from medimg.config.paths import ProjectPaths
    from medimg.evaluate.inference import final_model_on_split
    from medimg.metrics.segmentation import binary_dice
    from medimg.models.tta import with_tta
    from medimg.pipeline.checks import load_checked_params

    params = load_checked_params("params.yaml", root=root, step="evaluate")
    paths = ProjectPaths.from_params(params, root)
    model, rows, _ = final_model_on_split(params, paths)
    model = with_tta(model.cpu().eval(), params.evaluate.tta, True)
    scores = []
    for row in rows.itertuples():
        image = torch.from_numpy(np.load(paths.processed / row.cache_path))[None]
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(paths.interim / row.mask_path)))
        with torch.no_grad():
            probs = model(image).softmax(1)
        full = F.interpolate(probs, size=truth.shape[-2:], mode="bilinear").argmax(1)[0]
        scores.append(binary_dice(full.numpy() == 1, truth > 0))
    scores = np.array(scores)
    draws = np.random.default_rng(0).integers(0, len(scores), (1000, len(scores)))
    low, high = np.percentile(scores[draws].mean(1), [2.5, 97.5])
    return {
        "photos": len(scores),
        "dice": round(float(scores.mean()), 4),
        "ci95": [round(float(low), 4), round(float(high), 4)],
    }


def run_project(root: Path, args: argparse.Namespace) -> dict:
    make_project(root, args)
    seconds = timed_stages(root, args.until)
    trained = sum(v for k, v in seconds.items() if k.startswith("train_"))
    plan = json.loads((root / "reports/plan.json").read_text())
    evaluated = (root / "reports/evaluation.json").exists()
    figures = project_figures(root) if evaluated else {}
    if evaluated:
        figures["test_dice_at_full_resolution"] = full_resolution_dice(root)
    return {
        **figures,
        "budget": plan.get("budget"),
        "seconds": seconds,
        "minutes_per_fold": round(trained / 60 / args.folds, 1),
        "minutes_total": round(sum(seconds.values()) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--recipe", choices=list(RECIPES), default="preset")
    parser.add_argument("--set", action="append", default=[], help="key=value (YAML value)")
    parser.add_argument("--until", default="evaluate", help="the last stage to run")
    parser.add_argument("--keep", help="make the project in this folder and keep it")
    parser.add_argument("--score", help="a kept, evaluated project: its full-resolution Dice")
    args = parser.parse_args()
    if args.score:
        print(json.dumps({"cpu": cpu_name(), **full_resolution_dice(Path(args.score))}))
        return
    if not (DATA / "labels.csv").exists():
        print(f"skipped: {DATA} is absent (it is the shared development data, not in a clone)")
        return
    result = in_project_folder(args.keep, "medimg-ph2-", lambda root: run_project(root, args))
    print(json.dumps({"cpu": cpu_name(), "args": vars(args), **result}, indent=2))


if __name__ == "__main__":
    main()
