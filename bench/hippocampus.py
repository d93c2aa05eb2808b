"""Real MR through `dvc repro` as a user would run it: MSD Hippocampus (../shared/data/hippocampus-dev).

    .venv/bin/python bench/hippocampus.py                       # 5 folds, the preset's epochs
    .venv/bin/python bench/hippocampus.py --epochs 4 --until evaluate --keep /tmp/hippo

A fresh git + DVC project is made from this working tree. Its params are the `ct-seg-3d` preset
with only what a user of this data changes: `data.raw_dir` (the shared folder, read in place and
never copied), `data.class_names: from_dataset`, `model.num_classes: 3`, no lung crop, and
`plan: auto` with the planned keys deleted (spacing, normalisation, patch, batch, strides,
kernels, width). Each stage runs as `dvc repro` runs it and is timed. Printed: the plan, seconds per
stage and minutes per fold, the cross-validation table (each fold and the ensemble, Dice with 95%
intervals over patients), the Dice per label with its interval on the held-out cases, and the CPU.
Skips, saying so, where the shared data are absent (a user's clone has none).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.realistic_sets import PLANNED, cpu_name, project_figures, sh, stage_names  # noqa: E402

DATA = REPO.parent / "shared/data/hippocampus-dev"


def make_project(root: Path, args: argparse.Namespace) -> None:
    files = sh(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).split()
    for file in files:
        if (REPO / file).is_file() and file != "dvc.lock":
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / file, root / file)
    sh([sys.executable, "-m", "medimg", "params", "use", "ct-seg-3d"], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, keys in {**PLANNED, "model": ("pool_strides", "conv_kernels", "width")}.items():
        for key in keys:
            params[section].pop(key, None)
    params["data"].update(raw_dir=str(DATA), class_names="from_dataset")
    params["model"]["num_classes"] = 3
    params["preprocess"]["crop"] = "none"
    params["plan"] = "auto"
    params["split"]["folds"] = args.folds
    if args.epochs:
        params["train"]["stages"][-1]["epochs"] = args.epochs
    params["tracking"]["uri"] = "sqlite:///mlflow.db"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh([*git, "commit", "-qm", "bench project"], root)


def run_project(root: Path, args: argparse.Namespace) -> dict:
    make_project(root, args)
    seconds = {}
    stages = stage_names(root)
    for stage in stages[: stages.index(args.until) + 1]:
        tic = time.perf_counter()
        sh([sys.executable, "-m", "dvc", "repro", "--single-item", stage], root)
        seconds[stage] = round(time.perf_counter() - tic, 1)
        print(f"{stage}: {seconds[stage]} s", file=sys.stderr)
    trained = sum(v for k, v in seconds.items() if k.startswith("train_"))
    return {
        **project_figures(root),
        "seconds": seconds,
        "minutes_per_fold": round(trained / 60 / args.folds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, help="the last stage's epochs (default: the preset's)"
    )
    parser.add_argument("--until", default="evaluate", help="the last stage to run")
    parser.add_argument("--keep", help="make the project in this folder and keep it")
    args = parser.parse_args()
    if not (DATA / "dataset.json").exists():
        print(f"skipped: {DATA} is absent (it is the shared development data, not in a clone)")
        return
    if args.keep:
        Path(args.keep).mkdir(parents=True)
        result = run_project(Path(args.keep), args)
    else:
        with tempfile.TemporaryDirectory(prefix="medimg-hippocampus-") as scratch:
            result = run_project(Path(scratch), args)
    print(json.dumps({"cpu": cpu_name(), "args": vars(args), **result}, indent=2))


if __name__ == "__main__":
    main()
