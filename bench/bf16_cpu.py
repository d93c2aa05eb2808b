"""bfloat16 against fp32 on this CPU for the 3D U-Net: samples per second, and Dice at equal steps.

    .venv/bin/python bench/bf16_cpu.py                 # throughput, then fold 0 of Hippocampus twice
    .venv/bin/python bench/bf16_cpu.py --no-train      # throughput only (seconds)
    .venv/bin/python bench/bf16_cpu.py --pictures      # the PH2 2D U-Net's throughput only

Throughput: one optimizer step (forward, backward, SGD) of the U-Net the plan gives Hippocampus
(40 x 56 x 40 patches, batch 5, 3 poolings), at widths 32, 16 and 8, under autocast bf16 and in
fp32. Dice: fold 0 of ../shared/data/hippocampus-dev trained once in each precision through
`medimg run train --fold 0`, with the same planned width and batches per epoch (taken from a bf16
plan and pinned), so both take the same optimizer steps; printed is each run's best validation Dice
(mean over the two labels) and its minutes. `train.precision: auto` picks bf16 for segmenters on
a CPU with AVX512-BF16 or AMX (medimg.train.device.cpu_has_native_bf16).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.hippocampus import DATA, make_project  # noqa: E402
from bench.realistic_sets import cpu_name, sh  # noqa: E402
from medimg.config.loading import load_params  # noqa: E402
from medimg.config.presets import use_preset  # noqa: E402
from medimg.train.budget import seconds_per_batch  # noqa: E402
from medimg.train.device import cpu_has_native_bf16  # noqa: E402

PATCH, BATCH, STRIDES = [40, 56, 40], 5, [[2, 2, 2]] * 3


# the 2D U-Net the plan gives PH2's dermoscopy photos on 2 cores (bench/ph2.py): 5x coarser pixels
PICTURE, PICTURE_BATCH, PICTURE_STRIDES = [128, 160], 5, [[2, 2]] * 5


def throughput(scratch: Path, pictures: bool = False) -> list[dict]:
    """Samples per second of a training step in fp32 and bf16 at widths 32, 16 and 8: the
    Hippocampus 3D U-Net, or with ``pictures`` the PH2 2D U-Net (skin-lesion-seg)."""
    (scratch / "params.yaml").write_text((REPO / "params.yaml").read_text())
    use_preset("skin-lesion-seg" if pictures else "ct-seg-3d", scratch / "params.yaml")
    patch, batch, strides = (
        (PICTURE, PICTURE_BATCH, PICTURE_STRIDES) if pictures else (PATCH, BATCH, STRIDES)
    )
    rows = []
    for width in (32, 16, 8):
        row = {"model": "unet2d" if pictures else "unet3d", "patch": patch, "width": width}
        for precision in ("fp32", "bf16"):
            params = load_params(
                scratch / "params.yaml",
                [
                    f"model.width={width}",
                    f"model.pool_strides={json.dumps(strides)}",
                    f"model.conv_kernels={json.dumps([[3] * len(patch)] * (len(strides) + 1))}",
                    f"train.precision={precision}",
                    f"train.batch_size={batch}",
                    f"preprocess.photo.size={json.dumps(PICTURE)}",
                ],
            )
            step = seconds_per_batch(params, patch, batch, torch.device("cpu"))
            row[f"{precision}_samples_per_s"] = round(batch / step, 2)
        row["speed-up"] = round(row["bf16_samples_per_s"] / row["fp32_samples_per_s"], 2)
        rows.append(row)
    return rows


def fold_zero(root: Path, precision: str, pinned: dict | None) -> dict:
    """Fold 0 of Hippocampus trained in ``precision``; ``pinned`` fixes the width and batches."""
    args = argparse.Namespace(folds=5, epochs=None)
    make_project(root, args)
    for stage in ("ingest", "plan", "preprocess"):
        sh([sys.executable, "-m", "dvc", "repro", "--single-item", stage], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    budget = json.loads((root / "reports/plan.json").read_text())["budget"]
    pinned = pinned or {"width": budget["width"], "batches": budget["batches_per_epoch"]}
    overrides = [
        f"train.precision={precision}",
        f"model.width={pinned['width']}",
        f"sampling.patches.batches_per_epoch={pinned['batches']}",
    ]
    tic = time.perf_counter()
    command = [sys.executable, "-m", "medimg", "run", "train", "--stage"]
    for stage in [s["name"] for s in params["train"]["stages"]]:
        sh([*command, stage, "--fold", "0", *(x for o in overrides for x in ("--set", o))], root)
    summary = json.loads((root / "models/unfreeze/fold_0/summary.json").read_text())
    return {
        "precision": precision,
        **pinned,
        "best_val_dice": summary.get("best_val_dice"),
        "minutes": round((time.perf_counter() - tic) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-train", action="store_true", help="throughput only")
    parser.add_argument(
        "--pictures", action="store_true", help="the PH2 2D U-Net's throughput (no training)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medimg-bf16-") as scratch:
        out = {"cpu": cpu_name(), "native_bf16": cpu_has_native_bf16()}
        out["throughput"] = throughput(Path(scratch), args.pictures)
        args.no_train |= args.pictures
        print(json.dumps(out["throughput"]), file=sys.stderr)
        if not args.no_train and (DATA / "dataset.json").exists():
            first = fold_zero(Path(scratch) / "bf16", "bf16", None)
            print(json.dumps(first), file=sys.stderr)
            pinned = {"width": first["width"], "batches": first["batches"]}
            out["fold_0"] = [first, fold_zero(Path(scratch) / "fp32", "fp32", pinned)]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
