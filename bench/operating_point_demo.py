"""Does the deployed ensemble keep its promise on the demo? The demo (`dvc repro`, 5 folds) run
under several pseudonymisation salts: each salt deals the patients into other test and fold
splits. Per salt: the sensitivity and specificity the operating point promised (with the interval
expected for the test split's size and the cases it rests on), what test gave, and whether the
promise held; then how many salts kept both and the mean gap.

    .venv/bin/python bench/operating_point_demo.py                   # 5 salts, about 5 min each
    .venv/bin/python bench/operating_point_demo.py --salts 2 --keep /tmp/op
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.realistic_sets import commit_project, copy_working_tree, cpu_name, sh  # noqa: E402

RATES = ("sensitivity", "specificity")


def run_salt(root: Path, salt: str) -> dict:
    os.environ["MEDIMG_SALT"] = salt  # sh passes the environment on to dvc and its stages
    tic = time.perf_counter()
    # the salt is no DVC dependency: force the whole pipeline up to evaluate
    sh([sys.executable, "-m", "dvc", "repro", "--force", "evaluate"], root)
    report = json.loads((root / "reports/evaluation.json").read_text())
    op = report["operating_point"]
    out = {"salt": salt, "minutes": round((time.perf_counter() - tic) / 60, 1)}
    out["auc"] = report["metrics"]["auc"]
    out["threshold"] = op["threshold"]
    out["shifted"] = report["score_shift"]["shifted"]
    for rate in RATES:
        promise, kept = op["promised"][rate], op["kept"][rate]
        out[rate] = {
            "promised": round(promise["value"], 3),
            "expected": [
                round(promise["expected"]["low"], 3),
                round(promise["expected"]["high"], 3),
            ],
            "cases": promise["cases"],
            "realised": round(kept["realised"], 3),
            "kept": not kept["broken"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salts", type=int, default=5)
    parser.add_argument("--keep", help="make the project in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medimg-op-") as scratch:
        root = Path(args.keep or scratch)
        root.mkdir(parents=True, exist_ok=True)
        copy_working_tree(root)
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["tracking"]["uri"] = "sqlite:///mlflow.db"
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        commit_project(root)
        runs = []
        for k in range(args.salts):
            runs.append(run_salt(root, f"operating-point-{k}"))
            print(json.dumps(runs[-1]), file=sys.stderr)
    both = sum(all(r[rate]["kept"] for rate in RATES) for r in runs)
    gaps = {
        rate: round(
            sum(abs(r[rate]["realised"] - r[rate]["promised"]) for r in runs) / len(runs), 3
        )
        for rate in RATES
    }
    print(
        json.dumps(
            {
                "cpu": cpu_name(),
                "runs": runs,
                "both_kept": f"{both} of {len(runs)}",
                "mean_gap": gaps,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
