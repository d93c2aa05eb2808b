"""The watcher flow against a real Orthanc: killed with SIGKILL in the middle of a poll, then run
again, it has answered every study exactly once (none lost, none duplicated), and no patient
identifier reached its ledger, its output, the Prefect logs or its artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medimg.ingest import deid
from medimg.pacs.connection import Server, connect
from medimg.pacs.ledger import Ledger
from medimg.pacs.watch import answer_study
from tests.bundles import mean_classifier, write_study
from tests.conftest import new_user_environ, write_tiny_params
from tests.flows.conftest import edit_params
from tests.pacs.conftest import PASSWORD, USER

REPO = Path(__file__).resolve().parents[2]
STUDIES = 6
SALT = "watcher-test-salt-0123456789"


def watcher(root: Path, orthanc, api_url: str | None) -> subprocess.Popen:
    """`python -m flows.watch` on ``api_url``'s Prefect server, or with none (a temporary server in
    a fresh Prefect home, as the README's command runs on a new machine)."""
    env = new_user_environ("PREFECT_API_URL")  # flows.watch itself must turn analytics off
    env.update(
        PYTHONPATH=str(REPO),
        MEDIMG_PACS_URL=orthanc.dicomweb,
        MEDIMG_PACS_USER=USER,
        MEDIMG_PACS_PASSWORD=PASSWORD,
        MEDIMG_SALT=SALT,
    )
    if api_url is None:
        env["PREFECT_HOME"] = str(root / ".prefect-home")
    else:
        env["PREFECT_API_URL"] = api_url
    return subprocess.Popen(
        [sys.executable, "-m", "flows.watch", "--params", "params.yaml"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def results_per_study(orthanc) -> dict[str, int]:
    counts: dict[str, int] = {}
    for instance in orthanc.instances("SR"):
        counts[instance["StudyInstanceUID"]] = counts.get(instance["StudyInstanceUID"], 0) + 1
    return counts


@pytest.fixture(scope="module")
def hospital(orthanc, tmp_path_factory):
    orthanc.clear()
    source = tmp_path_factory.mktemp("hospital")
    studies = [write_study(source / f"s{i}", 20 + i, bright=i % 2 == 0) for i in range(STUDIES)]
    orthanc.upload(sorted(source.rglob("*.dcm")))
    root = tmp_path_factory.mktemp("watcher")
    write_tiny_params(root)
    mean_classifier(root / "bundle")
    edit_params(
        root,
        lambda p: (
            p["pacs"]["watch"].update(bundle="bundle", rule={"modality": "CT"}),
            p["orchestration"].update(retry_delay_s=0),
        ),
    )
    return root, studies


@pytest.fixture(scope="module")
def api_url(prefect_server):
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def test_a_watcher_killed_mid_poll_loses_no_study_and_sends_no_duplicate(
    hospital, orthanc, api_url
):
    root, studies = hospital
    proc = watcher(root, orthanc, api_url)
    deadline = time.monotonic() + 240
    while not orthanc.series_count("SR") and proc.poll() is None:
        assert time.monotonic() < deadline, "no result reached the PACS"
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    first_output = proc.communicate()[0]
    assert killed, f"the poll ended before the kill:\n{first_output[-2000:]}"
    ledger = Ledger(root / ".medimg/watch/ledger.sqlite")
    assert ledger.counts().get("done", 0) < STUDIES  # the kill cut the poll short

    again = watcher(root, orthanc, api_url)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-3000:]
    per_study = results_per_study(orthanc)
    assert per_study == {s["study_uid"]: 1 for s in studies}, per_study  # each once, none lost
    assert ledger.counts() == {"done": STUDIES}
    assert not any((root / ".medimg/watch/work").iterdir())  # no copy of a patient's images left

    # the README's command: no Prefect server running, no analytics variable set
    third = watcher(root, orthanc, None)
    quiet = third.communicate(timeout=300)[0]
    assert third.returncode == 0 and "answered" not in quiet, quiet[-3000:]
    assert "ERROR" not in quiet and "Traceback" not in quiet, quiet[-3000:]
    assert results_per_study(orthanc) == per_study

    canaries = [
        value.split("^")[-1]
        for s in studies
        for value in (
            s["patient_id"],
            s["patient_name"],
            s["accession"],
            s["study_uid"],
            s["series_uid"],
        )
    ]
    seen = {
        "ledger": (root / ".medimg/watch/ledger.sqlite").read_bytes().decode("latin-1"),
        "output": first_output + output + quiet,
        "prefect": prefect_record(),
    }
    assert "answered" in seen["output"] and "st" in seen["ledger"]  # the scans see real text
    leaks = {where: [c for c in canaries if c in text] for where, text in seen.items()}
    assert leaks == {where: [] for where in seen}


def prefect_record() -> str:
    """Everything the Prefect server keeps of the watcher's runs: flow and task runs with their
    parameters, logs and artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        flows = FlowFilter(name=FlowFilterName(any_=["medimg-pacs-watch"]))
        runs = client.read_flow_runs(flow_filter=flows)
        ids = [run.id for run in runs]
        tasks = client.read_task_runs(flow_filter=flows)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    assert len(runs) == 2 and tasks and logs and artifacts  # the third ran on its own server
    return json.dumps(
        [r.model_dump(mode="json") for r in (*runs, *tasks, *logs, *artifacts)], default=str
    )


def test_answering_a_study_again_after_a_crash_before_the_ledger_write_stores_nothing_twice(
    orthanc, tmp_path
):
    orthanc.clear()
    study = write_study(tmp_path / "study", 40, bright=True)
    orthanc.upload(sorted((tmp_path / "study").glob("*.dcm")))
    client = connect(Server(orthanc.dicomweb, USER, PASSWORD, 60))
    salt = SALT.encode()
    key = deid.pseudonym(salt, "study", study["study_uid"])
    bundle = mean_classifier(tmp_path / "bundle")
    first = answer_study(client, study["study_uid"], key, bundle, "ort_fp32", tmp_path / "w", salt)
    # the process died here, before the ledger said done: the next poll answers it again
    again = answer_study(client, study["study_uid"], key, bundle, "ort_fp32", tmp_path / "w", salt)
    assert first["results"] == ["stored"] and again["results"] == ["already on the PACS"]
    assert results_per_study(orthanc) == {study["study_uid"]: 1}
