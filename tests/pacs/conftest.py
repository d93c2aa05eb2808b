"""A real Orthanc (Debian's orthanc + orthanc-dicomweb) on a free loopback port with a temporary
storage folder and basic authentication; `.ci/run` installs the packages when they are missing."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "medimg", "not-a-real-secret"


@dataclass
class Orthanc:
    rest: str  # Orthanc's own REST API
    dicomweb: str  # its DICOMweb root: what medimg is given
    auth: tuple[str, str]

    def upload(self, files) -> None:
        for path in files:
            response = requests.post(
                f"{self.rest}/instances", data=Path(path).read_bytes(), auth=self.auth, timeout=30
            )
            response.raise_for_status()

    def instances(self, modality: str | None = None) -> list[dict]:
        """Every stored instance's main tags (patient, study, series and instance level)."""
        found = []
        for series_id in requests.get(f"{self.rest}/series", auth=self.auth, timeout=30).json():
            series = requests.get(f"{self.rest}/series/{series_id}", auth=self.auth, timeout=30)
            tags = series.json()["MainDicomTags"]
            if modality and tags.get("Modality") != modality:
                continue
            for instance_id in series.json()["Instances"]:
                found.append(
                    requests.get(
                        f"{self.rest}/instances/{instance_id}/simplified-tags",
                        auth=self.auth,
                        timeout=30,
                    ).json()
                )
        return found

    def series_count(self, modality: str) -> int:
        """How many series of ``modality`` the PACS holds: one cheap query, for tight polling."""
        found = requests.post(
            f"{self.rest}/tools/find",
            json={"Level": "Series", "Query": {"Modality": modality}},
            auth=self.auth,
            timeout=30,
        )
        return len(found.json())

    def file(self, sop_instance_uid: str) -> bytes:
        [match] = requests.post(
            f"{self.rest}/tools/find",
            json={"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}},
            auth=self.auth,
            timeout=30,
        ).json()
        return requests.get(
            f"{self.rest}/instances/{match}/file", auth=self.auth, timeout=30
        ).content

    def clear(self) -> None:
        for patient in requests.get(f"{self.rest}/patients", auth=self.auth, timeout=30).json():
            requests.delete(f"{self.rest}/patients/{patient}", auth=self.auth, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    binary = shutil.which("Orthanc")
    if binary is None or not DICOMWEB_PLUGIN.exists():
        pytest.skip(
            "Orthanc with its DICOMweb plugin is not installed (apt install orthanc orthanc-dicomweb)"
        )
    folder = tmp_path_factory.mktemp("orthanc")
    port = free_port()
    config = {
        "Name": "medimg-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "w")
    server = subprocess.Popen(
        [binary, str(folder / "orthanc.json")], cwd=folder, stdout=log, stderr=subprocess.STDOUT
    )
    rest = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{rest}/system", auth=(USER, PASSWORD), timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert server.poll() is None, (folder / "orthanc.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "Orthanc did not start within 60 s"
        time.sleep(0.2)
    yield Orthanc(rest, f"{rest}/dicom-web", (USER, PASSWORD))
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture
def pacs_env(orthanc, monkeypatch):
    """The environment a user sets: the address and the credentials, nothing in params.yaml."""
    monkeypatch.setenv("MEDIMG_PACS_URL", orthanc.dicomweb)
    monkeypatch.setenv("MEDIMG_PACS_USER", USER)
    monkeypatch.setenv("MEDIMG_PACS_PASSWORD", PASSWORD)
    return orthanc
