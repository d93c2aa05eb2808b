"""Every invalid params file fails before any work, naming the key, with no Python traceback: in the
CLI that dvc.yaml calls, in the Prefect flow's entry point, and in `medimg params check`."""

import subprocess
import sys

import pytest

from medimg.cli import main
from tests.conftest import REPO
from tests.reliability.bad_params import BAD_PARAMS, bad_params_text
from tests.reliability.record import record


def test_there_are_at_least_20_kinds_of_bad_params():
    assert len(BAD_PARAMS) >= 20 and len({c.name for c in BAD_PARAMS}) == len(BAD_PARAMS)


@pytest.mark.parametrize("case", BAD_PARAMS, ids=lambda c: c.name)
def test_a_bad_params_file_stops_the_step_before_any_work(case, tmp_path, monkeypatch, capsys):
    (tmp_path / "data/raw/ct-nodule").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text(bad_params_text(case, (REPO / "params.yaml").read_text()))
    monkeypatch.chdir(tmp_path)
    code = main(["run", "ingest", "--params", "params.yaml"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert case.names_key in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "data/interim").exists() and not (tmp_path / "reports").exists()
    record("bad_params", case=case.name, handled=True)


@pytest.mark.parametrize(
    "entry",
    [["-m", "medimg", "params", "check"], ["-m", "flows.pipeline"]],
    ids=["medimg-params-check", "prefect-flow"],
)
def test_the_real_commands_answer_a_bad_file_in_one_line(entry, tmp_path):
    case = next(c for c in BAD_PARAMS if c.name == "negative_epochs")
    (tmp_path / "data/raw/ct-nodule").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text(bad_params_text(case, (REPO / "params.yaml").read_text()))
    done = subprocess.run(
        [sys.executable, *entry],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "train.stages[1].epochs" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data/interim").exists()
