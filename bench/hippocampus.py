"""Real MR through `dvc repro` as a user would run it: MSD Hippocampus (../shared/data/hippocampus-dev).

    .venv/bin/python bench/hippocampus.py                       # 5 folds, the preset's epochs
    .venv/bin/python bench/hippocampus.py --epochs 4 --until evaluate --keep /tmp/hippo
    .venv/bin/python bench/hippocampus.py --score-fold 0 --keep /tmp/hippo   # a fold, when trained

A fresh git + DVC project is made from this working tree. Its params are the `ct-seg-3d` preset
with only what a user of this data changes: `data.raw_dir` (the shared folder, read in place and
never copied), `data.class_names: from_dataset` (the model's outputs follow it), no lung crop, and
`plan: auto` with the planned keys deleted (spacing, normalisation, patch, batch, strides,
kernels, width). Each stage runs as `dvc repro` runs it and is timed. Printed: the plan, seconds per
stage and minutes per fold, the cross-validation table (each fold and the ensemble, Dice with 95%
intervals over patients), the Dice per label with its interval on the held-out cases, and the CPU.
Skips, saying so, where the shared data are absent (a user's clone has none).

``--score-fold K`` scores fold K of a kept project once it is trained (all five folds take an
hour or more on 2 cores): Dice per label on the fold's own validation cases, with 95% intervals
over cases, plain and mirrored, as evaluate predicts (Gaussian-weighted windows), and the
post-processing decision those cases would give.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.realistic_sets import (  # noqa: E402
    commit_project,
    cpu_name,
    in_project_folder,
    project_figures,
    seg3d_project,
    timed_stages,
)

DATA = REPO.parent / "shared/data/hippocampus-dev"


def make_project(root: Path, args: argparse.Namespace) -> None:
    def edit(params: dict) -> None:
        params["data"].update(raw_dir=str(DATA), class_names="from_dataset")
        params["preprocess"]["crop"] = "none"
        params["plan"] = "auto"
        params["split"]["folds"] = args.folds
        if args.epochs:
            params["train"]["stages"][-1]["epochs"] = args.epochs

    seg3d_project(root, edit)
    commit_project(root)


def run_project(root: Path, args: argparse.Namespace) -> dict:
    make_project(root, args)
    seconds = timed_stages(root, args.until)
    trained = sum(v for k, v in seconds.items() if k.startswith("train_"))
    return {
        **project_figures(root),
        "seconds": seconds,
        "minutes_per_fold": round(trained / 60 / args.folds, 1),
    }


def score_fold(root: Path, fold: int) -> dict:
    import numpy as np
    import torch

    from medimg.config.paths import ProjectPaths
    from medimg.evaluate.inference import predict_masks
    from medimg.evaluate.postprocessing import choose_largest_component
    from medimg.metrics.segmentation import binary_dice
    from medimg.models.tta import with_tta
    from medimg.pipeline.checks import load_checked_params
    from medimg.train.checkpoint import load_checkpoint, model_from_checkpoint
    from medimg.train.datasets import fold_rows

    params = load_checked_params("params.yaml", root=root, step="evaluate")
    paths = ProjectPaths.from_params(params, root)
    rows = fold_rows(paths.index, paths.splits, params.split.folds, fold, "val")
    stage = paths.stage_dir(params.train.stages[-1].name, fold)
    model = model_from_checkpoint(params, load_checkpoint(stage / "ckpt.pt"))
    summary = json.loads((stage / "summary.json").read_text())
    out = {"fold": fold, "cases": len(rows), "width": params.model.width, "training": summary}
    labels = range(1, len(params.data.class_names))
    draws = np.random.default_rng(0).integers(0, len(rows), (1000, len(rows)))
    mirrored = with_tta(model, params.evaluate.tta, True)
    for name, net in (("plain", model), ("mirrored", mirrored)):
        _, truths, predictions = predict_masks(net, rows, params, paths, torch.device("cpu"))
        scores = {
            params.data.class_names[c]: np.array(
                [binary_dice(p == c, t == c) for p, t in zip(predictions, truths)]
            )
            for c in labels
        }
        out[name] = {
            label: {
                "dice": round(float(v.mean()), 4),
                "ci95": [round(float(q), 4) for q in np.percentile(v[draws].mean(1), [2.5, 97.5])],
            }
            for label, v in scores.items()
        }
    out["postprocessing"] = choose_largest_component(truths, predictions, len(labels) + 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, help="the last stage's epochs (default: the preset's)"
    )
    parser.add_argument("--until", default="evaluate", help="the last stage to run")
    parser.add_argument("--keep", help="make the project in this folder and keep it")
    parser.add_argument("--score-fold", type=int, help="score this fold of the --keep project")
    args = parser.parse_args()
    if args.score_fold is not None:
        print(json.dumps({"cpu": cpu_name(), **score_fold(Path(args.keep), args.score_fold)}))
        return
    if not (DATA / "dataset.json").exists():
        print(f"skipped: {DATA} is absent (it is the shared development data, not in a clone)")
        return
    result = in_project_folder(
        args.keep, "medimg-hippocampus-", lambda root: run_project(root, args)
    )
    print(json.dumps({"cpu": cpu_name(), "args": vars(args), **result}, indent=2))


if __name__ == "__main__":
    main()
