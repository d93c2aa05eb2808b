"""Generated realistic segmentation sets through `dvc repro`: the plan, k-fold CV and the ensemble.

    .venv/bin/python bench/realistic_sets.py                                  # both sets
    .venv/bin/python bench/realistic_sets.py --set two-label-mr --folds 5 --epochs 12

For each set (medimg/demo/segmentation_sets.py: anisotropic CT with small lesions, MR-like volumes
with two adjacent labels) a fresh git + DVC project is made from this working tree with the
ct-seg-3d preset, `plan: auto` and the planned keys deleted from params.yaml (spacing, normalisation,
window, target shape, patch, batch, pool strides, kernels, width: nothing hand-tuned), `split.folds` folds and the
set's official test split. Each stage runs as `dvc repro` runs it and is timed. Printed: the plan,
seconds per stage, the CV table (each fold and the ensemble, Dice with 95% intervals over
patients), how many cases the export gate rests on, and the CPU. Only the demo-sized epochs are
not the preset's: CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medimg.demo.segmentation_sets import SETS, write_segmentation_set  # noqa: E402
from medimg.pipeline.steps import STEPS  # noqa: E402

# the keys the plan proposes for a 3D segmenter, handed to it by leaving them out
PLANNED = {
    "preprocess": ("normalize", "window", "spacing", "target_shape", "shape_mode"),
    "sampling": ("patches",),
    "train": ("batch_size",),
    "model": ("pool_strides", "conv_kernels", "width"),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def sh(cmd: list[str], cwd: Path) -> str:
    # dvc runs each stage's `medimg run ...`: the environment's own scripts come first on PATH
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def copy_working_tree(root: Path) -> None:
    """This working tree's files (tracked and untracked, not ignored; no dvc.lock) copied to ``root``."""
    files = sh(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO).split()
    for file in files:
        if (REPO / file).is_file() and file != "dvc.lock":
            (root / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / file, root / file)


def seg3d_project(root: Path, edit) -> None:
    """This working tree copied to ``root`` with the ct-seg-3d preset, every planned key deleted
    from params.yaml, then ``edit(params)``; call commit_project once the data are in place."""
    preset_project(root, "ct-seg-3d", PLANNED, edit)


def preset_project(root: Path, preset: str, planned: dict, edit) -> None:
    """This working tree copied to ``root`` with ``preset``, the ``planned`` keys ({section:
    keys}) deleted from params.yaml, then ``edit(params)``; commit_project once data are in place."""
    copy_working_tree(root)
    sh([sys.executable, "-m", "medimg", "params", "use", preset], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, keys in planned.items():
        for key in keys:
            params[section].pop(key, None)
    params["tracking"]["uri"] = "sqlite:///mlflow.db"
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def commit_project(root: Path) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh([*git, "commit", "-qm", "bench project"], root)


def make_project(root: Path, name: str, args: argparse.Namespace) -> None:
    def edit(params: dict) -> None:
        params["data"].update(raw_dir=f"data/raw/{name}", class_names="from_dataset")
        params["model"]["num_classes"] = len(SETS[name][2])
        params["preprocess"]["crop"] = "body" if SETS[name][1] == "CT" else "none"
        params["plan"] = {"use": "auto", "memory": "cpu", "cpu_memory_gb": args.cpu_memory_gb}
        params["split"]["folds"] = args.folds
        params["train"]["stages"][-1]["epochs"] = args.epochs

    seg3d_project(root, edit)
    write_segmentation_set(name, root / "data/raw" / name, args.cases, args.test_cases, args.seed)
    commit_project(root)


def stage_names(root: Path) -> list[str]:
    stages = yaml.safe_load((root / "params.yaml").read_text())["train"]["stages"]
    names = []
    for step in STEPS:
        if step.name != "demo-data":
            names += step.stage_names([s["name"] for s in stages])
    return names


def run_set(name: str, args: argparse.Namespace) -> dict:
    if args.keep:
        root = Path(args.keep) / name
        root.mkdir(parents=True)  # an earlier run's project is not overwritten
        return run_project(root, name, args)
    with tempfile.TemporaryDirectory(prefix=f"medimg-{name}-") as scratch:
        return run_project(Path(scratch), name, args)


def timed_stages(root: Path, until: str) -> dict[str, float]:
    """Run the project's stages one by one as `dvc repro` does, up to ``until``: seconds each."""
    seconds = {}
    stages = stage_names(root)
    for stage in stages[: stages.index(until) + 1]:
        tic = time.perf_counter()
        sh([sys.executable, "-m", "dvc", "repro", "--single-item", stage], root)
        seconds[stage] = round(time.perf_counter() - tic, 1)
        print(f"{stage}: {seconds[stage]} s", file=sys.stderr)
    return seconds


def in_project_folder(keep: str | None, prefix: str, run):
    """``run(root)`` in the new folder ``keep`` (kept), or in a scratch folder removed after."""
    if keep:
        Path(keep).mkdir(parents=True)  # an earlier run's project is not overwritten
        return run(Path(keep))
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        return run(Path(scratch))


def run_project(root: Path, name: str, args: argparse.Namespace) -> dict:
    """Make the set's project in ``root``, run its stages one by one, time them, read its figures."""
    make_project(root, name, args)
    seconds = timed_stages(root, args.until)
    return {"set": name, **project_figures(root), "seconds": seconds,
            "total_s": round(sum(seconds.values()), 1)}  # fmt: skip


def project_figures(root: Path) -> dict:
    """What the run chose and measured, read from the project's reports."""
    plan = json.loads((root / "reports/plan.json").read_text())
    evaluation = json.loads((root / "reports/evaluation.json").read_text())
    report = root / "artifacts/export_report.json"
    export = json.loads(report.read_text()) if report.exists() else None
    summary = json.loads((root / "reports/ingest_summary.json").read_text())
    return {
        "split": summary["by_split"],
        "protocol": summary["split_protocol"]["text"],
        "plan": {
            k: plan[k]
            for k in (
                "configuration",
                "target_spacing",
                "patch_size",
                "batch_size",
                "pool_strides",
                "normalisation",
                "memory_gb",
                "budget_gb",
            )
        },
        "cross_validation": evaluation.get("cross_validation"),
        "dice_per_class": {
            name: {
                "dice_mean": block["metrics"]["dice_mean"],
                "ci95": block["ci95"].get("dice_mean"),
            }
            for name, block in evaluation["classes"].items()
        },
        "gate_rests_on": export and export.get("gate_rests_on"),
        "deployable": export and {k: v["deployable"] for k, v in export["quality"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=list(SETS), nargs="+", default=list(SETS))
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--test-cases", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--cpu-memory-gb", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--until", default="export", help="the last stage to run (evaluate skips the export gate)"
    )
    parser.add_argument(
        "--keep", help="make the projects in this folder and keep them (logs, models)"
    )
    args = parser.parse_args()
    results = [run_set(name, args) for name in args.set]
    print(json.dumps({"cpu": cpu_name(), "args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
