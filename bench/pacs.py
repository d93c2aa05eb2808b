"""How fast studies cross the PACS boundary: pull (QIDO-RS + WADO-RS), predict with the bundle, and
answer (DICOM SR/SEG built and stored with STOW-RS), against a real local Orthanc.

    .venv/bin/python bench/pacs.py                       # 12 demo studies, the artifacts/ bundle
    .venv/bin/python bench/pacs.py --studies 30 --bundle artifacts

Needs Debian's orthanc + orthanc-dicomweb and the demo (./demo.sh). Starts Orthanc on a free
loopback port with a temporary storage folder, uploads the first N demo patients' series, then times
`medimg pacs pull` (as a library call), and per study predict alone and the watcher's whole answer
(pull into a work folder, predict, build and store the result). Prints the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")

import requests  # noqa: E402

from medimg.config.pacs import RetrieveRule  # noqa: E402
from medimg.deploy.cpu import cpu_description  # noqa: E402
from medimg.deploy.predict import predict  # noqa: E402
from medimg.ingest import deid  # noqa: E402
from medimg.pacs.connection import Server, connect  # noqa: E402
from medimg.pacs.query import find_studies  # noqa: E402
from medimg.pacs.retrieve import pull_studies  # noqa: E402
from medimg.pacs.watch import answer_study  # noqa: E402

PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
AUTH = ("bench", "bench")


def start_orthanc(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "StorageDirectory": str(folder),
        "IndexDirectory": str(folder),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": dict([AUTH]),
        "Plugins": [PLUGIN],
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    server = subprocess.Popen(
        ["Orthanc", str(folder / "orthanc.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rest = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{rest}/system", auth=AUTH, timeout=1).ok:
                return server, rest
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("Orthanc did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=12, help="demo patients to upload")
    parser.add_argument("--bundle", type=Path, default=REPO / "artifacts")
    parser.add_argument("--raw", type=Path, default=REPO / "data/raw/ct-nodule")
    args = parser.parse_args()
    if shutil.which("Orthanc") is None or not Path(PLUGIN).exists():
        print("needs orthanc and orthanc-dicomweb (apt install orthanc orthanc-dicomweb)")
        return 2
    patients = sorted(p for p in args.raw.iterdir() if p.is_dir())[: args.studies]
    files = sorted(f for p in patients for f in p.rglob("*.dcm"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "orthanc").mkdir()
        server, rest = start_orthanc(tmp / "orthanc")
        try:
            for path in files:
                requests.post(f"{rest}/instances", data=path.read_bytes(), auth=AUTH, timeout=30)
            client = connect(Server(f"{rest}/dicom-web", *AUTH, 60))
            salt = b"bench-salt-0123456789abcdef"
            tic = time.perf_counter()
            uids = find_studies(client, RetrieveRule(modality="CT"))
            records = pull_studies(client, uids, tmp / "pulled", salt)
            pull_s = time.perf_counter() - tic
            instances = sum(r["instances"] for r in records)
            megabytes = sum(f.stat().st_size for f in (tmp / "pulled").rglob("*.dcm")) / 1e6

            folders = sorted(p for p in (tmp / "pulled").iterdir() if p.is_dir())
            predict(folders[0], args.bundle, tmp / "warm")  # onnxruntime's first session
            tic = time.perf_counter()
            for folder in folders:
                predict(folder, args.bundle, tmp / "out" / folder.name)
            predict_s = (time.perf_counter() - tic) / len(folders)

            tic = time.perf_counter()
            for uid in uids:
                key = deid.pseudonym(salt, "study", uid)
                answer_study(client, uid, key, args.bundle, "ort_fp32", tmp / "work", salt)
            answer_s = (time.perf_counter() - tic) / len(uids)
        finally:
            server.terminate()
            server.wait(timeout=30)
    cpu = cpu_description()
    print(
        f"CPU: {cpu['model']}, {os.cpu_count()} cores, {cpu['cpu_class']} ({' '.join(cpu['flags'])})"
    )
    print(f"{len(uids)} studies, {instances} instances, {megabytes:.1f} MB")
    print(
        f"pull (QIDO-RS + WADO-RS, written under pseudonyms): {pull_s:.2f} s, "
        f"{instances / pull_s:.0f} instances/s, {megabytes / pull_s:.1f} MB/s"
    )
    print(f"predict + DICOM result per study (local files): {predict_s * 1000:.0f} ms")
    print(f"watcher answer per study (pull, predict, store): {answer_s * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
