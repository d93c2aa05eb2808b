"""Canary identifiers planted in every identifying DICOM tag and in folder and file names reach no
output of a full Prefect flow run: data/interim, data/processed, models, reports, artifacts, the MLflow
store and its artifacts, the Prefect logs, stdout and stderr."""

import gzip
import io

import pandas as pd
import pytest

from flows.pipeline import pipeline
from tests.conftest import write_tiny_params
from tests.flows.conftest import edit_params
from tests.reliability.canaries import MARKERS, plant_canaries
from tests.reliability.record import record

pytestmark = pytest.mark.slow  # see tests/conftest.py: left out of the fast loop


def readable(path) -> bytes:
    """A file's content as a reader would see it: decompressed, Parquet decoded."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        return pd.read_parquet(io.BytesIO(data)).to_csv().encode()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    return data


def prefect_logs(flow_run_id) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join(log.message for log in logs)


def test_planted_identifiers_reach_no_output(
    tmp_path_factory, tiny, demo_raw, prefect_server, capfd
):
    root = tmp_path_factory.mktemp("leakscan")
    write_tiny_params(root)
    planted = plant_canaries(tiny[1].raw, root / "data/raw/site")
    canaries = MARKERS
    edit_params(root, lambda p: p["data"].update(raw_dir="data/raw/site"))
    capfd.readouterr()
    state = pipeline(root=str(root), return_state=True)
    assert state.is_completed(), state.message
    streams = capfd.readouterr()
    logs = prefect_logs(state.state_details.flow_run_id)
    assert "Finished in state Completed" in logs and len(logs) > 200  # the logs are really there

    inputs = sorted((root / "data/raw/site").rglob("*.dcm"))
    assert all(
        all(c.encode() in readable(p) for c in canaries[2:]) for p in inputs[:5]
    )  # the scan sees them
    outputs = [p for p in root.rglob("*") if p.is_file() and "raw" not in p.relative_to(root).parts]
    folders = {p.relative_to(root).parts[0] for p in outputs}
    assert {"data", "models", "reports", "artifacts", "mlflow.db", "mlruns"} <= folders
    leaks = [
        (str(p.relative_to(root)), c)
        for p in outputs
        for c in canaries
        if c in str(p.relative_to(root)) or c.encode() in readable(p)
    ]
    leaks += [
        (stream, c)
        for stream, text in (
            ("stdout", streams.out),
            ("stderr", streams.err),
            ("prefect logs", logs),
        )
        for c in canaries
        if c in text
    ]
    record("leaks", outputs_scanned=len(outputs) + 3, canaries=len(planted), leaks=len(leaks))
    assert not leaks, f"{len(leaks)} leak(s): {leaks[:5]}"
    assert len(outputs) > 40
