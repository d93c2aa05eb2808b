import subprocess
import sys

import pandas as pd
import pytest

from medimg.cli import main


@pytest.mark.parametrize(
    "argv", [[], ["params"], ["params", "check"], ["run"], ["ingest"], ["predict"]]
)
def test_every_command_explains_itself(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: medimg" in capsys.readouterr().out


def test_standalone_ingest_converts_a_tree_to_volumes_and_a_manifest(tiny, demo_raw, tmp_path):
    params, paths = tiny
    out = tmp_path / "converted"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "medimg",
            "ingest",
            str(paths.raw),
            "--out",
            str(out),
            "--params",
            str(paths.root / "params.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 12 and len(list((out / "volumes").glob("*.nii.gz"))) == 12
    assert (
        tmp_path / ".medimg" / "salt"
    ).exists()  # a site salt was generated, not a shared default


def test_unknown_training_stage_fails_before_any_work(tmp_path):
    from tests.conftest import REPO

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "medimg",
            "run",
            "train",
            "--stage",
            "warmup",
            "--params",
            str(REPO / "params.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "no stage named 'warmup'" in proc.stderr


def test_edge_cases_then_ingest_prints_a_summary_by_status_and_reason(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MEDIMG_SALT", "cli-test-salt-0123456789")
    assert main(["edge-cases", str(tmp_path / "edge")]) == 0
    code = main(
        [
            "ingest",
            str(tmp_path / "edge"),
            "--out",
            str(tmp_path / "out"),
            "--set",
            "data.label_column=case",
            "--set",
            "ingest.workers=1",
            "--set",
            "split.folds=1",  # one labelled patient: too few for folds
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "by status: ok 10, quarantined 5" in err and "non image objects: SR 1" in err
    assert "fixed: gantry_tilt 1, nonuniform_spacing 1" in err


def test_bad_input_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    """An InputError (here a folder with no bundle) prints one line; a ValueError raised by a bug
    is not mistaken for bad input and shows its traceback."""
    import subprocess
    import sys

    bad_input = subprocess.run(
        [sys.executable, "-m", "medimg", "predict", str(tmp_path), "--model", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad_input.returncode == 1 and "Traceback" not in bad_input.stderr
    assert bad_input.stderr.startswith("error: ") and "bundle.json: missing" in bad_input.stderr
    bug = (
        "import sys, medimg.deploy.predict as p\n"
        "def broken(*a, **k): raise ValueError('a bug, not bad input')\n"
        "p.predict = broken\n"
        "from medimg.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    crashed = subprocess.run(
        [sys.executable, "-c", bug, "predict", str(tmp_path), "--model", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert crashed.returncode == 1 and "Traceback" in crashed.stderr
    assert "ValueError: a bug, not bad input" in crashed.stderr


def test_the_cli_page_lists_every_registered_step():
    from medimg.pipeline.steps import STEP_NAMES
    from tests.conftest import REPO

    [line] = [
        line for line in (REPO / "docs/cli.md").read_text().splitlines() if "# one step:" in line
    ]
    assert line.split("# one step:")[1].split() == list(STEP_NAMES)
