"""The watcher's work on one study, as a plain function: pull it, run the bundle on it, send the
results back. The Prefect flow (flows/watch.py) polls, retries and keeps the ledger."""

from __future__ import annotations

import shutil
from pathlib import Path

from medimg.deploy.bundle import BUNDLE_FILE, has_bundle
from medimg.deploy.predict import predict
from medimg.io.problems import InputError
from medimg.pacs.connection import describe_failure
from medimg.pacs.retrieve import retrieve_study
from medimg.pacs.send import send_results


def watch_bundle(setting: str, root: Path, tracking_uri: str, registered_model: str) -> Path:
    """The bundle folder the watcher runs: the registry's champion (cached under
    ``root/.medimg/watch/models``) when ``setting`` is 'champion', else the folder it names."""
    if setting == "champion":
        from medimg.retrain.registry import champion_bundle

        return champion_bundle(tracking_uri, registered_model, Path(root) / ".medimg/watch/models")
    folder = Path(root) / setting
    if not has_bundle(folder):
        raise InputError(f"pacs.watch.bundle: {folder} holds no exported bundle ({BUNDLE_FILE})")
    return folder


class StudyFailed(RuntimeError):
    """One study could not be answered; the message names it by pseudonym only."""


def answer_study(
    client, study_uid: str, key: str, bundle: Path, variant: str, workdir: Path, salt: bytes
) -> dict:
    """Pull study ``study_uid`` into ``workdir/<key>``, predict on each of its series, store the SEG
    or SR of each on the PACS, and delete the working copy. Returns a pseudonymous summary.

    Safe to repeat after a crash at any point: the working copy is rebuilt, and results the PACS
    already holds are not sent again."""
    folder = Path(workdir) / key
    try:
        shutil.rmtree(folder, ignore_errors=True)  # a crashed attempt's leftovers
        retrieve_study(client, study_uid, folder / "source", salt)
        predictions = predict(folder / "source", bundle, folder / "results", variant)
        sent = send_results(client, [Path(p["dicom"]) for p in predictions if "dicom" in p])
    except Exception as exc:  # re-raised without the original, whose text may quote the study UID
        raise StudyFailed(f"study {key}: {describe_failure(exc)}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # it holds the patient's images: keep no copy
    return {
        "study": key,
        "series": len(predictions),
        "results": [s["status"] for s in sent],
        "predictions": [p.get("prediction") or p.get("volume_ml") for p in predictions],
    }
