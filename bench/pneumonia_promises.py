"""Real chest X-rays: does the deployed ensemble keep its promise? ../shared/data/pneumonia-dev
(PneumoniaMNIST's 2428 official train images in 5 folds, its 270 official val images as a stand-in
test split), through `dvc repro` with the `fundus-dr` preset (a 2D photo classifier) changed for the
data: the label columns, two classes, and, so five folds fit a CPU session, ResNet-18 at 64 px,
1 + 8 epochs. Printed: what the operating point promised (sensitivity and specificity with the
interval expected for the test split's size and the cases behind it), what the deployed ensemble
and every exported variant gave on the stand-in test split, the score-shift check, the gate's
verdicts with their intervals, and the CPU.

    .venv/bin/python bench/pneumonia_promises.py --keep /tmp/pneumonia   # about 25 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.realistic_sets import commit_project, copy_working_tree, cpu_name, sh  # noqa: E402

DATA = REPO.parent / "shared/data/pneumonia-dev"


def make_project(root: Path, epochs: int) -> None:
    copy_working_tree(root)
    sh([sys.executable, "-m", "medimg", "params", "use", "fundus-dr"], root)
    labels = pd.read_csv(DATA / "labels.csv", dtype=str)
    labels["split"] = labels["split"].replace(
        {"val": "test"}
    )  # the official val stands in for test
    labels = labels.assign(split=labels["split"].where(labels["split"] == "test", ""))
    labels.to_csv(root / "labels_official_val_as_test.csv", index=False)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(
        raw_dir=str(DATA),
        labels_csv=str(root / "labels_official_val_as_test.csv"),
        label_join="image",
        patient_column="patient",
        label_column="label",
        class_names=["normal", "pneumonia"],
    )
    # grey pictures: one channel (a 3-channel model fails in training, not in params check)
    params["model"].update(name="resnet18", num_classes=2, in_channels=1)
    params["preprocess"]["photo"].update(size=[64, 64], field_mask=False, imagenet_norm=False)
    params["split"]["folds"] = 5
    params["train"]["stages"][-1]["epochs"] = epochs
    for stage in params["train"]["stages"]:
        stage["early_stopping"]["metric"] = "auc"
    params["tracking"]["uri"] = "sqlite:///mlflow.db"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_project(root)


def figures(root: Path) -> dict:
    report = json.loads((root / "reports/evaluation.json").read_text())
    export = json.loads((root / "artifacts/export_report.json").read_text())
    op = report["operating_point"]
    promised = {r: op["promised"][r] for r in ("sensitivity", "specificity")}
    variants = {}
    for name, figures in export["clinical"].items():
        variants[name] = {
            rate: {
                "realised": figures.get(rate),
                "within": promised[rate]["expected"]["low"]
                <= figures.get(rate, -1)
                <= promised[rate]["expected"]["high"],
            }
            for rate in promised
        }
        variants[name]["deployable"] = export["quality"][name]["deployable"]
        variants[name]["reasons"] = export["quality"][name]["reasons"]
    return {
        "auc": report["metrics"]["auc"],
        "threshold": op["threshold"],
        "promised": promised,
        "kept": op["kept"],
        "score_shift": report["score_shift"],
        "out_of_fold": report["out_of_fold"],
        "variants": variants,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="the unfreeze stage's epochs")
    parser.add_argument("--keep", help="make the project in this folder and keep it")
    args = parser.parse_args()
    if not (DATA / "labels.csv").exists():
        print(f"skipped: {DATA} is absent (it is the shared development data, not in a clone)")
        return
    with tempfile.TemporaryDirectory(prefix="medimg-pneumonia-") as scratch:
        root = Path(args.keep or scratch)
        root.mkdir(parents=True, exist_ok=True)
        make_project(root, args.epochs)
        tic = time.perf_counter()
        sh([sys.executable, "-m", "dvc", "repro"], root)
        minutes = round((time.perf_counter() - tic) / 60, 1)
        print(json.dumps({"cpu": cpu_name(), "minutes": minutes, **figures(root)}, indent=2))


if __name__ == "__main__":
    main()
