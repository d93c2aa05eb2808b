"""A full disk and a read-only output folder: the step stops with one clear line naming the file,
exit code 1, no traceback, and the previous outputs stay byte for byte, with no temp file left."""

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.reliability.record import record

pytestmark = pytest.mark.slow  # see tests/conftest.py: left out of the fast loop


def snapshot(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def project(tmp_path, tiny, preprocessed):
    """A copy of the tiny project after ingest and preprocess, to break without touching the shared one."""
    root = tmp_path / "project"
    shutil.copytree(
        tiny[1].root,
        root,
        symlinks=True,
        ignore=shutil.ignore_patterns("models*", "mlruns", "*.db"),
    )
    return root


def run_step(root, *args, wrap=(), limit_bytes=None):
    def small_disk():  # writes past limit_bytes fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run(
        [*wrap, sys.executable, "-m", "medimg", "run", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_disk if limit_bytes else None,
        env={**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"},
    )


def test_a_full_disk_stops_preprocess_and_keeps_the_previous_cache(project):
    processed = project / "data/processed"
    before = snapshot(processed)
    # a new recipe must rewrite every tensor (40³: 256 KB, masks 64 KB); no file over 16 KB fits
    done = run_step(
        project, "preprocess", "--set", "preprocess.target_shape=[40,40,40]", limit_bytes=16 * 1024
    )
    assert done.returncode == 1, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert (
        "disk is full" in line
        and "data/processed/cache/" in line
        and "Traceback" not in done.stderr
    )
    assert snapshot(processed) == before
    assert not list(processed.rglob(".tmp-*"))
    record("storage", fault="disk full", handled=True)


def _read_only(folder):
    """A command prefix under which ``folder`` is read-only: a read-only bind mount in a private mount
    namespace when running as root (permissions do not stop root), chmod otherwise."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        return ()
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    script = (
        f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && exec "$@"'
    )
    return ("unshare", "-m", "sh", "-c", script, "sh")


def test_a_read_only_output_folder_stops_ingest_and_keeps_the_previous_outputs(project):
    interim = project / "data/interim"
    before = snapshot(interim)
    wrap = _read_only(interim)
    # another compression level changes every item's settings, so every volume is rewritten
    done = run_step(project, "ingest", "--set", "ingest.compression_level=3", wrap=wrap)
    assert done.returncode == 1, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert ("read-only file system" in line or "permission denied" in line) and str(
        interim
    ) in line, line
    assert "Traceback" not in done.stderr
    assert snapshot(interim) == before
    assert not list(interim.rglob(".tmp-*"))
    record("storage", fault="read-only folder", handled=True)
