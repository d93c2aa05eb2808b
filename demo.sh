#!/usr/bin/env bash
# One command: install medimg into .venv and run the whole pipeline on the bundled demo data.
set -euo pipefail
cd "$(dirname "$0")"
export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
source .venv/bin/activate
medimg params check
time dvc repro
cat <<MSG

Done. Results:
  test metrics        reports/metrics.json (headline, dvc metrics show), reports/evaluation.json (all)
  model card          reports/model_card.md
  predictions         reports/predictions.parquet
  ROC / training plots reports/plots/roc.json, models/*/history.json  (dvc plots show)
  checkpoints         models/freeze/ckpt.pt, models/unfreeze/ckpt.pt
  deployable bundle   artifacts/ (ONNX and OpenVINO variants + bundle.json; medimg predict INPUT --model artifacts)
  export gate         artifacts/export_metrics.json (headline), artifacts/export_report.json (all)
  documentation       docs/ (mkdocs serve)
  MLflow runs         mlflow.db   (mlflow ui --backend-store-uri sqlite:///mlflow.db)
MSG
.venv/bin/python - <<'PY'
import json
m = json.load(open("reports/metrics.json"))
keys = [k for k in ("auc", "sensitivity", "specificity", "quadratic_kappa", "dice_mean", "dice_present_mean",
                    "hd95_mm_median") if m.get(k) is not None]
print("  test " + "  ".join(f"{k} {m[k]:.3f}" for k in keys) + f"  (n={m['n']})")
PY
