"""GDCM's fast scan must plan exactly what pydicom's reader plans, on every file it is given."""

from dataclasses import replace
from pathlib import Path

import data_store  # pydicom-data: its files are installed, so nothing is downloaded
import pydicom.data
import pytest

from medimg.demo.edge_cases import write_edge_cases
from medimg.ingest.dicom.headers import find_candidate_files, read_header
from medimg.ingest.dicom.pixels import read_slices
from medimg.ingest.dicom.scanner import scan_chunk, scan_headers


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    edge = tmp_path_factory.mktemp("scan_edge")
    write_edge_cases(edge)
    (edge / "empty").write_bytes(b"")
    (edge / "DICOMDIR").write_bytes(b"\0" * 300)
    folders = [
        Path(pydicom.data.__file__).parent / "test_files",
        Path(data_store.__file__).parent / "data",
    ]
    shipped = sorted(str(f) for folder in folders for f in folder.glob("*.dcm"))
    return [str(p) for p in find_candidate_files(edge)[0]] + shipped


@pytest.mark.filterwarnings("ignore")
def test_fast_scan_equals_pydicom_headers(files):
    fast = scan_chunk(files)
    assert len(fast) == len(files) > 250
    located = 0
    for path, ours in zip(files, fast):
        reference = read_header(Path(path))
        if isinstance(ours, list) and isinstance(reference, list):
            # the fast path may decline to locate pixel values (then pydicom decodes); it never disagrees
            if ours[0].native_pixels is None:
                reference = [replace(h, native_pixels=None) for h in reference]
            else:
                located += 1
        assert ours == reference, path
    assert located > 150


@pytest.mark.filterwarnings("ignore")
def test_located_pixels_read_the_same_values_as_pydicom(files):
    located = [
        headers
        for headers in scan_chunk(files)
        if isinstance(headers, list)
        and headers[0].native_pixels is not None
        and "edge" in headers[0].path
    ]
    assert len(located) >= 10, "the fast scan located too few pixel arrays to compare"
    for headers in located:
        slow = [replace(h, native_pixels=None) for h in headers]
        assert (read_slices(headers) == read_slices(slow)).all(), headers[0].path


def test_parallel_scan_keeps_file_order(files):
    sequential = scan_headers([Path(f) for f in files[:600]], workers=1)
    assert scan_headers([Path(f) for f in files[:600]], workers=2) == sequential
