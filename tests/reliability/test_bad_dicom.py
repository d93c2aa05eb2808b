"""The damaged-DICOM corpus (tests/reliability/bad_dicom.py): each kind of damage is quarantined or skipped
with its own reason, the clean series beside them convert, the run exits 0, and a header declaring a
16 GiB frame allocates nothing of the kind."""

import json
import os
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest.dicom.scanner import scan_chunk
from medimg.ingest.tree import ingest_tree
from tests.conftest import write_tiny_params
from tests.reliability.bad_dicom import DAMAGES, write_bad_corpus
from tests.reliability.record import record

SALT = b"bad-corpus-salt-0123456789"
AS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    raw = tmp_path_factory.mktemp("bad_raw")
    written = write_bad_corpus(raw)
    out = tmp_path_factory.mktemp("bad_out")
    summary = ingest_tree(raw, out, SALT, DataParams(), SplitParams(), IngestParams(workers=2))
    return raw, written, summary, pd.read_parquet(out / "manifest.parquet")


def test_the_corpus_has_at_least_20_kinds_of_damage():
    assert len(DAMAGES) >= 20 and len({d.name for d in DAMAGES}) == len(DAMAGES)
    assert (
        len(DAMAGES) - sum(d.needs_unprivileged for d in DAMAGES) >= 20
    )  # even where root runs the tests


@pytest.mark.parametrize(
    "damage", [d for d in DAMAGES if d.level == "series"], ids=lambda d: d.name
)
def test_a_damaged_series_is_quarantined_with_its_own_reason(corpus, damage):
    _, written, _, manifest = corpus
    rows = manifest[manifest["label"] == list(written).index(damage.name)]
    assert len(rows) == 1, f"{damage.name}: {len(rows)} rows"
    row = rows.iloc[0]
    assert (row["status"], row["reason_code"]) == ("quarantined", damage.code), row["reason"]
    assert len(row["reason"]) > 15 and "MemoryError" not in row["reason"]
    assert pd.isna(row["volume_path"])
    record("bad_dicom", case=damage.name, handled=True)


@pytest.mark.parametrize("damage", [d for d in DAMAGES if d.level == "file"], ids=lambda d: d.name)
def test_a_damaged_file_is_skipped_with_its_own_reason(corpus, damage):
    if damage.needs_unprivileged and AS_ROOT:
        pytest.skip("root reads files whatever their permissions")
    raw = corpus[0]
    files = sorted(str(p) for p in (raw / damage.name).iterdir())
    for result in scan_chunk(files):
        assert not isinstance(result, list), f"{damage.name} was read as an image"
        assert result.reason_code == damage.code, result.reason
    record("bad_dicom", case=damage.name, handled=True)


def test_the_clean_series_convert_and_every_skip_is_counted(corpus):
    raw, written, summary, manifest = corpus
    clean = manifest[manifest["label"] < 0]
    assert len(clean) == 2 and (clean["status"] == "ok").all()
    expected = Counter()
    for name, damage in written.items():
        if damage.level == "file":
            expected[damage.code] += len(list((raw / name).iterdir()))
    expected["not_dicom"] += 1  # labels.csv
    assert summary["skipped_files_by_reason"] == dict(expected)
    assert summary["by_status"] == {
        "ok": 2,
        "quarantined": sum(d.level == "series" for d in written.values()),
    }
    record("clean_series", converted=len(clean))


# `medimg ingest` (the ingest step on any folder), then the peak resident memory of it and of its worker processes, in KiB. Its own
# peak is VmHWM: ru_maxrss would carry over the forked pytest process's size across exec.
MEASURED = (
    "import re, resource, sys\nfrom medimg.cli import main\ncode = main(sys.argv[1:])\n"
    "own = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
    "peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "print(f'PEAK_KIB {peak}', file=sys.stderr)\nsys.exit(code)"
)


def test_the_cli_run_exits_0_and_stays_small_in_memory(corpus, tmp_path):
    raw = corpus[0]
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, "ingest", str(raw), "--out", str(tmp_path / "out")]
        + ["--params", str(write_tiny_params(tmp_path / "project"))]
        + ["--set", "data.label_column=label", "--set", "data.mask_column=null"],  # the corpus's
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MEDIMG_SALT": SALT.decode(), "TQDM_DISABLE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout[done.stdout.index("{") : done.stdout.rindex("}") + 1])
    assert result["summary"]["by_status"]["ok"] == 2
    assert (tmp_path / "out" / "reports" / "ingest_summary.json").is_file()  # the step's reports
    peak_mib = int(done.stderr.split("PEAK_KIB ")[1].split()[0]) / 1024
    assert peak_mib < 1024, (
        f"ingest peaked at {peak_mib:.0f} MiB; the corpus declares a 16 GiB frame"
    )
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert not manifest["reason"].str.contains("MemoryError").any()
    record("memory", peak_mib=round(peak_mib), declared_frame_gib=16)
