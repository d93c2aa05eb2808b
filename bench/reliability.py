"""Run the reliability suite and print what it tried and how it ended: `python bench/reliability.py`.

It runs `pytest tests/reliability` (about 3 minutes on 2 cores) with MEDIMG_RELIABILITY_RECORD set,
so each passing check writes one line of figures, then sums them into one table: faults injected and
recovered, bad inputs tried and quarantined or refused, leaks found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_suite(record: Path) -> int:
    env = {**os.environ, "MEDIMG_RELIABILITY_RECORD": str(record), "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability"],
        cwd=REPO,
        env=env,
    ).returncode


def summarise(lines: list[dict]) -> list[tuple[str, str, str, str]]:
    """(check, tried, handled, detail) rows from the recorded lines."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        by_kind[line["kind"]].append(line)
    rows = []
    kills = by_kind["kill"]
    rows.append(
        (
            "SIGKILL mid-step, then rerun",
            f"{sum(k['injected'] for k in kills)} kills in {len(kills)} steps",
            f"{sum(k['recovered'] for k in kills)} recovered to the uninterrupted outputs",
            "; ".join(f"{k['step']}: {'/'.join(k['points'])}" for k in kills),
        )
    )
    storage = by_kind["storage"]
    rows.append(
        (
            "disk full, read-only folder",
            f"{len(storage)} faults",
            f"{sum(s['handled'] for s in storage)} clear errors, outputs intact",
            ", ".join(s["fault"] for s in storage),
        )
    )
    dicom = by_kind["bad_dicom"]
    memory = by_kind["memory"][0] if by_kind["memory"] else {}
    rows.append(
        (
            "damaged DICOM kinds",
            f"{len(dicom)} kinds",
            f"{sum(d['handled'] for d in dicom)} quarantined or skipped with their own reason",
            f"clean series converted: {sum(c['converted'] for c in by_kind['clean_series'])}; "
            f"peak memory {memory.get('peak_mib', '?')} MiB beside a {memory.get('declared_frame_gib', '?')} GiB frame",
        )
    )
    params = by_kind["bad_params"]
    rows.append(
        (
            "invalid params files",
            f"{len(params)} files",
            f"{sum(p['handled'] for p in params)} refused before any work, naming the key",
            "no traceback shown",
        )
    )
    leaks = by_kind["leaks"]
    rows.append(
        (
            "canary identifiers",
            f"{sum(x['canaries'] for x in leaks)} planted values, "
            f"{sum(x['outputs_scanned'] for x in leaks)} outputs",
            f"leaks found: {sum(x['leaks'] for x in leaks)}",
            "tags, file and folder names; data, models, reports, artifacts, MLflow, Prefect logs, stdout/stderr",
        )
    )
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "reliability.jsonl"
        record.touch()
        code = run_suite(record)
        lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    print("\n| check | tried | handled | detail |\n|---|---|---|---|")
    for row in summarise(lines):
        print("| " + " | ".join(row) + " |")
    if code:
        print(
            f"\nthe reliability suite FAILED (pytest exit {code}); the table counts only the checks that passed"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
