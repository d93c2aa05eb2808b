"""k-fold training time: each fold and the total, against one train/val split, on this project.

    .venv/bin/python bench/folds.py                 # the project in . (after `dvc repro preprocess`)
    .venv/bin/python bench/folds.py --folds 1 5     # the fold counts to compare

For each fold count the project's ingested data and preprocessed cache are copied to a temporary
folder, ingest and preprocess rerun there with split.folds set (they only cut the folds and
rewrite the index: every conversion and tensor is reused) and every training stage runs as `dvc repro` runs it (tasks.train.run_train), with the
project's params otherwise unchanged. Printed: seconds per fold (all stages) and in total, and the
CPU. Nothing in the project itself is written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from medimg.config.loading import load_params  # noqa: E402
from medimg.config.paths import ProjectPaths  # noqa: E402
from tasks.ingest import run_ingest  # noqa: E402
from tasks.preprocess import run_preprocess  # noqa: E402
from tasks.train import run_train  # noqa: E402


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def time_folds(project: Path, folds: int) -> dict:
    """Train every stage of ``project``'s params with ``folds`` folds in a scratch copy."""
    source = ProjectPaths.from_params(load_params(project / "params.yaml"), project)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        params = load_params(project / "params.yaml", [f"split.folds={folds}"])
        params = params.model_copy(
            update={
                "tracking": params.tracking.model_copy(update={"uri": f"sqlite:///{root}/m.db"})
            }
        )
        paths = ProjectPaths.from_params(params, root)
        for name in ("raw", "interim", "processed"):
            shutil.copytree(getattr(source, name), getattr(paths, name))
        (root / ".medimg").mkdir()
        if (project / ".medimg/salt").exists():
            shutil.copy2(project / ".medimg/salt", root / ".medimg/salt")
        run_ingest(params, paths)  # cuts the folds; every item is reused
        run_preprocess(params, paths)  # the index carries the splits; every tensor is reused
        per_fold = [0.0] * folds
        tic = time.perf_counter()
        for stage in params.train.stages:
            for k in range(folds):
                start = time.perf_counter()
                if folds == 1:
                    run_train(params, paths, stage.name, fresh=True)
                else:
                    run_train(params, paths, stage.name, fresh=True, fold=k)
                per_fold[k] += time.perf_counter() - start
        return {"folds": folds, "per_fold_s": per_fold, "total_s": time.perf_counter() - tic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    for folds in args.folds:
        result = time_folds(args.project.resolve(), folds)
        per_fold = ", ".join(f"{s:.0f}" for s in result["per_fold_s"])
        print(
            f"folds {folds}: {result['total_s']:.0f} s in total; per fold (all stages) {per_fold} s"
        )
        print(json.dumps(result))


if __name__ == "__main__":
    main()
