"""Lint reaches the whole library: an exclude meant for the top-level models/ folder once matched
medimg/models too, and left it unformatted."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_ruff_sees_every_python_file_under_medimg():
    listed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-files", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = {Path(line.strip()).resolve() for line in listed.splitlines() if line.strip()}
    library = {p.resolve() for p in (REPO / "medimg").rglob("*.py")}
    assert library, "no library files found"
    assert sorted(library - seen) == []
