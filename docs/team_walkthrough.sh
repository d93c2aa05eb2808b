#!/usr/bin/env bash
# docs/team.md, run as written on one machine, then photographed with headless chromium:
#
#     bash docs/team_walkthrough.sh [SCRATCH]      # writes docs/img/team-*.png and SCRATCH/transcript.txt
#
# Each numbered section of docs/team.md is one block below, with the doc's commands; only the
# folders (/srv/medimg, /shared) become folders under SCRATCH, and "server" becomes 127.0.0.1.
# The project is a clone of this repository with the demo params and 3 folds, so that MLflow
# shows fold runs. Needs Debian's postgresql and chromium.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${1:-$(mktemp -d /tmp/medimg-team-XXXX)}
mkdir -p "$SCRATCH" && chmod 755 "$SCRATCH"   # PostgreSQL's owner (not root) enters it
export PATH="$REPO/.venv/bin:$PATH"
exec > >(tee "$SCRATCH/transcript.txt") 2>&1
say() { printf '\n$ %s\n' "$*"; }
pids=()
cleanup() {
  # the worker before the servers it talks to; wait on these pids only (tee outlives us)
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [[ -e "$SCRATCH/pg/postmaster.pid" ]]; then
    python -c "import sys; from pathlib import Path; from medimg.team.postgres import stop_cluster; stop_cluster(Path(sys.argv[1]))" "$SCRATCH/pg"
  fi
}
trap cleanup EXIT

# a clone of the project, as a member has it (the demo's params, 3 folds)
say git clone "$REPO" project
git clone -q "$REPO" "$SCRATCH/project"
cd "$SCRATCH/project"
python - <<'EOF'
import yaml
params = yaml.safe_load(open("params.yaml"))
params["split"]["folds"] = 3
yaml.safe_dump(params, open("params.yaml", "w"), sort_keys=False)
EOF

# Credentials
say "cat > .env (MEDIMG_DB_PASSWORD, MEDIMG_DB_PORT)"
cat > .env <<EOF
MEDIMG_DB_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(12))')
MEDIMG_DB_PORT=55432                  # default 5432
EOF
say medimg team check
medimg team check || echo "(exit $?: nothing listens yet)"

# 1. PostgreSQL
say medimg team postgres "$SCRATCH/pg"
medimg team postgres "$SCRATCH/pg"
say medimg team check
medimg team check

# 2. Prefect and MLflow servers
say medimg team up "$SCRATCH/servers" --host 0.0.0.0 --artifacts "$SCRATCH/mlartifacts" '&'
medimg team up "$SCRATCH/servers" --host 0.0.0.0 --artifacts "$SCRATCH/mlartifacts" &
pids+=($!)
for _ in $(seq 120); do
  curl -sf http://127.0.0.1:4200/api/health >/dev/null && curl -sf http://127.0.0.1:5000/health >/dev/null && break
  sleep 1
done
sleep 3   # the work pool is made once both answer
export PREFECT_API_URL=http://127.0.0.1:4200/api MLFLOW_TRACKING_URI=http://127.0.0.1:5000

# 3. Scheduled retraining on a worker
say python -m flows.serve --work-pool medimg
python -m flows.serve --work-pool medimg
say prefect worker start --pool medimg --type process '&'
prefect worker start --pool medimg --type process > "$SCRATCH/worker.log" 2>&1 &
pids+=($!)
deployment=$(python -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["retrain"]["deployment"])')
say prefect deployment run "medimg-retrain/$deployment" --watch
prefect deployment run "medimg-retrain/$deployment" --watch --watch-interval 10 | tail -5
say tail -3 worker.log
tail -3 "$SCRATCH/worker.log"

# 4. Data and models through a DVC remote
say dvc remote add -d team "$SCRATCH/dvc-remote"
dvc remote add -d team "$SCRATCH/dvc-remote"
say dvc push
dvc push
say git commit dvc.lock params.yaml .dvc/config
git -c user.name=team -c user.email=team@example.org commit -qam "retrained on the team's servers"
say "git clone ... other; cd other; dvc pull"
git clone -q "$SCRATCH/project" "$SCRATCH/other"
(cd "$SCRATCH/other" && dvc pull -q && dvc status)
series=$(find data/raw -name '*.dcm' -printf '%h\n' | sort -u | head -1)
say medimg predict "$series" "(in both clones)"
a=$(medimg predict "$series" --model artifacts)
b=$(cd "$SCRATCH/other" && medimg predict "$SCRATCH/project/$series" --model artifacts)
echo "$a"
[[ "$a" == "$b" ]] && echo "the second clone answers the same" || { echo "the clones differ: $b"; exit 1; }

# the screenshots: the worker's pipeline run in the Prefect UI, its fold runs in the MLflow UI
run_id=$(python - <<'EOF'
import json, urllib.request
body = json.dumps({"flows": {"name": {"any_": ["medimg-pipeline"]}}}).encode()
request = urllib.request.Request("http://127.0.0.1:4200/api/flow_runs/filter", data=body,
                                 headers={"Content-Type": "application/json"})
print(next(r["id"] for r in json.load(urllib.request.urlopen(request)) if r["state_type"] == "COMPLETED"))
EOF
)
experiment=$(python - <<'EOF'
import mlflow, yaml
name = yaml.safe_load(open("params.yaml"))["tracking"]["experiment"]
print(mlflow.MlflowClient().get_experiment_by_name(name).experiment_id)
EOF
)
mkdir -p "$REPO/docs/img"
python "$REPO/docs/ui_screenshot.py" "http://127.0.0.1:4200/runs/flow-run/$run_id" \
  "$REPO/docs/img/team-prefect-flow-run.png" --wait-text export
python "$REPO/docs/ui_screenshot.py" "http://127.0.0.1:5000/#/experiments/$experiment/runs" \
  "$REPO/docs/img/team-mlflow-fold-runs.png" --wait-text pipeline- \
  --click 'button[aria-label=Close]' --click 'button[data-component-id*=runnamecellrenderer]'
say "written: docs/img/team-prefect-flow-run.png docs/img/team-mlflow-fold-runs.png"
