"""nnunetv2 beside medimg on real Hippocampus MR, at equal CPU minutes per fold.

    .venv/bin/python bench/hippocampus.py --keep /tmp/hippo               # medimg: 5 folds, the default budget
    .venv/bin/python bench/nnunet_side_by_side.py --medimg /tmp/hippo     # nnunetv2: fold 0, the same minutes

nnunetv2 (the optional [reference] extra) plans and preprocesses ../shared/data/hippocampus-dev
with its own API (fingerprint, ExperimentPlanner, 3d_fullres preprocessing), then its own
nnUNetTrainer trains fold 0 of its own 5-fold split on this CPU, in fp32 as it does on a CPU, with
its epochs shrunk to fit the minutes medimg spent per fold: a three-iteration calibration epoch
times one iteration (data augmentation included), then 25 epochs of as many iterations as fit,
with its poly schedule over them. Its own validation (sliding window, mirroring) scores the fold.
Printed: both Dice figures per label and their ratio, minutes, iterations and the CPU.

The folds differ: nnunetv2 splits its 208 cases its way, medimg holds 52 out as a test set and
splits the other 156 by patient. Each figure is its tool's own validation of its own fold 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.hippocampus import DATA  # noqa: E402
from bench.realistic_sets import cpu_name  # noqa: E402

DATASET_ID = 994
EPOCHS = 25
TRAIN = """
import json, sys, time, torch
from nnunetv2.run.run_training import get_trainer_from_args
epochs, iterations, val_iterations = (int(a) for a in sys.argv[2:5])
trainer = get_trainer_from_args(sys.argv[1], "3d_fullres", 0, device=torch.device("cpu"))
trainer.num_epochs, trainer.num_iterations_per_epoch = epochs, iterations
trainer.num_val_iterations_per_epoch = val_iterations
tic = time.perf_counter()
trainer.run_training()
trained = time.perf_counter() - tic
trainer.perform_actual_validation(False)
print(json.dumps({"train_seconds": trained, "total_seconds": time.perf_counter() - tic}))
"""
PREPARE = """
import sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import (
    extract_fingerprints, plan_experiments, preprocess)
ids = [int(sys.argv[1])]
extract_fingerprints(ids, num_processes=2, check_dataset_integrity=False, clean=True, verbose=False)
plan_experiments(ids, gpu_memory_target_in_gb=8)
preprocess(ids, configurations=("3d_fullres",), num_processes=(2,), verbose=False)
"""


def link_decathlon_as_nnunet(decathlon: Path, raw: Path) -> Path:
    """nnU-Net v2's raw layout for a single-channel Decathlon folder, as links (nothing copied):
    imagesTr/<case>_0000.nii.gz beside labelsTr/<case>.nii.gz, and a v2 dataset.json."""
    for folder in ("imagesTr", "labelsTr"):
        (raw / folder).mkdir(parents=True, exist_ok=True)
    meta = json.loads((decathlon / "dataset.json").read_text())
    cases = sorted((decathlon / "imagesTr").glob("*.nii.gz"))
    for image in cases:
        case = image.name.removesuffix(".nii.gz")
        for link, target in (
            (raw / "imagesTr" / f"{case}_0000.nii.gz", image),
            (raw / "labelsTr" / image.name, decathlon / "labelsTr" / image.name),
        ):
            if not link.is_symlink():
                link.symlink_to(target)
    modality = next(iter((meta.get("modality") or meta.get("channel_names")).values()))
    (raw / "dataset.json").write_text(
        json.dumps(
            {
                "channel_names": {"0": modality},
                "labels": {name: int(value) for value, name in meta["labels"].items()},
                "numTraining": len(cases),
                "file_ending": ".nii.gz",
            }
        )
    )
    return raw


def nnunet_env(work: Path) -> dict:
    roots = {k: work / k for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for folder in roots.values():
        folder.mkdir(parents=True, exist_ok=True)
    # one augmentation worker: the two cores also train
    return {**os.environ, **{k: str(v) for k, v in roots.items()}, "nnUNet_n_proc_DA": "1"}


def run(script: str, env: dict, *args) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"nnunetv2 failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def medimg_figures(project: Path) -> dict:
    """Fold 0's figures of a bench/hippocampus.py project (all folds and test where trained)."""
    stage = project / "models/unfreeze"
    fold = json.loads((stage / "fold_0/summary.json").read_text())
    plan = json.loads((project / "reports/plan.json").read_text())
    out = {"fold_0_val_dice_mean": fold["best_val_dice"], "budget": plan.get("budget")}
    if (stage / "summary.json").exists():
        out["folds_val_dice_mean"] = json.loads((stage / "summary.json").read_text())[
            "best_val_dice_mean"
        ]
    if (project / "reports/evaluation.json").exists():
        evaluation = json.loads((project / "reports/evaluation.json").read_text())
        out["test_dice_per_label"] = {
            name: block["metrics"]["dice_mean"] for name, block in evaluation["classes"].items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medimg", required=True, help="a bench/hippocampus.py --keep project")
    parser.add_argument("--minutes", type=float, help="per fold (default: medimg's budget)")
    parser.add_argument("--work", default="/tmp/nnunet-side-by-side")
    args = parser.parse_args()
    ours = medimg_figures(Path(args.medimg))
    minutes = args.minutes or ours["budget"]["cpu_minutes_per_fold"]
    work = Path(args.work)
    env = nnunet_env(work)
    name = f"Dataset{DATASET_ID:03d}_Hippocampus"
    link_decathlon_as_nnunet(DATA, work / "nnUNet_raw" / name)
    tic = time.perf_counter()
    run(PREPARE, env, DATASET_ID)
    prepared = time.perf_counter() - tic
    calibration = json.loads(run(TRAIN, env, DATASET_ID, 1, 3, 1).splitlines()[-1])
    per_iteration = calibration["train_seconds"] / 4  # 3 training + 1 validation iteration
    iterations = max(1, int(minutes * 60 / (EPOCHS * per_iteration * 1.1)))
    result = json.loads(run(TRAIN, env, DATASET_ID, EPOCHS, iterations, 1).splitlines()[-1])
    fold = work / "nnUNet_results" / name / "nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0"
    validation = json.loads((fold / "validation/summary.json").read_text())
    theirs = {
        "fold_0_val_dice_per_label": {k: v["Dice"] for k, v in validation["mean"].items()},
        "fold_0_val_dice_mean": validation["foreground_mean"]["Dice"],
        "iterations": EPOCHS * iterations,
        "seconds_per_iteration": round(per_iteration, 2),
        "training_minutes": round(result["train_seconds"] / 60, 1),
        "minutes_with_validation": round(result["total_seconds"] / 60, 1),
        "preprocessing_minutes": round(prepared / 60, 1),
    }
    print(
        json.dumps(
            {
                "cpu": cpu_name(),
                "minutes_per_fold": minutes,
                "medimg": ours,
                "nnunetv2": theirs,
                # None where nnunetv2 segmented nothing yet in these minutes
                "ratio_fold_0": round(
                    ours["fold_0_val_dice_mean"] / theirs["fold_0_val_dice_mean"], 3
                )
                if theirs["fold_0_val_dice_mean"]
                else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
