"""bfloat16 against fp32 on this CPU for the 3D U-Net: samples per second, and Dice at equal steps.

    .venv/bin/python bench/bf16_cpu.py                 # throughput, then fold 0 of Hippocampus twice
    .venv/bin/python bench/bf16_cpu.py --no-train      # throughput only (seconds)

Throughput: one optimizer step (forward, backward, SGD) of the U-Net the plan gives Hippocampus
(40 x 56 x 40 patches, batch 5, 3 poolings), at widths 32, 16 and 8, under autocast bf16 and in
fp32. Dice: fold 0 of ../shared/data/hippocampus-dev trained once in each precision through
`medimg run train --fold 0`, with the same planned width and batches per epoch (taken from a bf16
plan and pinned), so both take the same optimizer steps; printed is each run's best validation Dice
(mean over the two labels) and its minutes. `train.precision: auto` picks bf16 for 3D segmenters on
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


def throughput(scratch: Path) -> list[dict]:
    (scratch / "params.yaml").write_text((REPO / "params.yaml").read_text())
    use_preset("ct-seg-3d", scratch / "params.yaml")
    rows = []
    for width in (32, 16, 8):
        row = {"width": width}
        for precision in ("fp32", "bf16"):
            params = load_params(
                scratch / "params.yaml",
                [
                    f"model.width={width}",
                    f"model.pool_strides={json.dumps(STRIDES)}",
                    f"train.precision={precision}",
                ],
            )
            step = seconds_per_batch(params, PATCH, BATCH, torch.device("cpu"))
            row[f"{precision}_samples_per_s"] = round(BATCH / step, 2)
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medimg-bf16-") as scratch:
        out = {"cpu": cpu_name(), "native_bf16": cpu_has_native_bf16()}
        out["throughput"] = throughput(Path(scratch))
        print(json.dumps(out["throughput"]), file=sys.stderr)
        if not args.no_train and (DATA / "dataset.json").exists():
            first = fold_zero(Path(scratch) / "bf16", "bf16", None)
            print(json.dumps(first), file=sys.stderr)
            pinned = {"width": first["width"], "batches": first["batches"]}
            out["fold_0"] = [first, fold_zero(Path(scratch) / "fp32", "fp32", pinned)]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
