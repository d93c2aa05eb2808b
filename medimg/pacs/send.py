"""Store result objects on the PACS (STOW-RS), once each."""

from __future__ import annotations

from pathlib import Path

import pydicom

from medimg.pacs.query import instance_stored


def send_results(client, paths: list[Path]) -> list[dict]:
    """Store each DICOM file unless the server already holds its SOP Instance UID.

    medimg's result UIDs are derived from the source series and the model, so a file sent before a
    crash is recognised on the retry and not stored twice."""
    sent = []
    for path in paths:
        ds = pydicom.dcmread(path)
        if instance_stored(client, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)):
            sent.append({"file": Path(path).name, "status": "already on the PACS"})
            continue
        client.store_instances([ds])
        sent.append({"file": Path(path).name, "status": "stored"})
    return sent
