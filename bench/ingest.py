"""Convert one DICOM tree with medimg, dcm2niix and dicom2nifti; print slices per second for each.

    .venv/bin/python bench/ingest.py                      # the demo ct-nodule tree (run dvc repro first)
    .venv/bin/python bench/ingest.py --raw DIR --workers 2

All three write gzip-compressed NIfTI into a fresh temporary folder. medimg's time includes reading
every header, planning, the manifest and the summary; it is measured on a cold output folder (a
rerun on unchanged data is measured separately: it reuses every volume).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")


def _count_slices(raw: Path) -> int:
    from medimg.ingest.dicom.headers import find_candidate_files

    return len(find_candidate_files(raw)[0])


def _medimg(raw: Path, out: Path, workers: int) -> float:
    from medimg.config.schema import DataParams, IngestParams, SplitParams
    from medimg.ingest.tree import ingest_tree

    tic = time.perf_counter()
    ingest_tree(
        raw,
        out,
        b"bench-salt-0123456789",
        DataParams(labels_csv="none.csv"),
        SplitParams(),
        IngestParams(workers=workers),
    )
    return time.perf_counter() - tic


def _dcm2niix(raw: Path, out: Path, workers: int) -> float:
    binary = Path(sys.executable).parent / "dcm2niix"
    tic = time.perf_counter()
    subprocess.run(
        [str(binary), "-z", "y", "-b", "n", "-f", "%j", "-o", str(out), str(raw)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - tic


def _dicom2nifti(raw: Path, out: Path, workers: int) -> float:
    import logging

    import dicom2nifti

    logging.getLogger("dicom2nifti").setLevel(logging.ERROR)
    tic = time.perf_counter()
    dicom2nifti.convert_directory(str(raw), str(out), compression=True, reorient=False)
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", type=Path, default=REPO / "data/raw/ct-nodule")
    parser.add_argument("--workers", type=int, default=0, help="medimg processes (0: one per core)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per converter; the best is reported"
    )
    args = parser.parse_args()
    if not args.raw.is_dir():
        sys.exit(f"{args.raw}: not found; run `dvc repro demo_data` or pass --raw")
    slices = _count_slices(args.raw)
    print(
        f"tree: {args.raw} ({slices} files), {os.cpu_count()} cores, medimg workers={args.workers or os.cpu_count()}"
    )
    print(f"{'converter':<12} {'best s':>8} {'slices/s':>10}")
    for name, convert in (
        ("medimg", _medimg),
        ("dcm2niix", _dcm2niix),
        ("dicom2nifti", _dicom2nifti),
    ):
        times = []
        for _ in range(args.repeat):
            out = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            try:
                times.append(convert(args.raw, out, args.workers))
            finally:
                shutil.rmtree(out, ignore_errors=True)
        print(f"{name:<12} {min(times):>8.2f} {slices / min(times):>10.0f}")
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as out:
        _medimg(args.raw, Path(out), args.workers)
        rerun = _medimg(args.raw, Path(out), args.workers)
    print(
        f"{'medimg rerun':<12} {rerun:>8.2f} {slices / rerun:>10.0f}   (unchanged tree: nothing reconverted)"
    )


if __name__ == "__main__":
    main()
