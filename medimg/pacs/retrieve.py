"""Pull studies (WADO-RS) into a folder, named by pseudonyms only.

Each study is written into a '.tmp-' folder and renamed into place when every instance is on disk,
so a killed pull leaves either a whole study or none: a rerun skips the whole ones and fetches the
rest."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from medimg.ingest import deid
from medimg.io import atomic


def study_folder(root: Path, salt: bytes, study_uid: str) -> Path:
    return Path(root) / deid.pseudonym(salt, "study", study_uid)


def retrieve_study(client, study_uid: str, target: Path, salt: bytes) -> int:
    """Every instance of the study as ``target/<series key>/<instance key>.dcm``; returns how many.

    ``target`` appears only once the whole study is there."""
    build = atomic.fresh_build_dir(target)
    count = 0
    for ds in client.iter_study(study_uid):
        series = build / deid.pseudonym(salt, "series", str(ds.SeriesInstanceUID))
        series.mkdir(exist_ok=True)
        name = f"{deid.pseudonym(salt, 'instance', str(ds.SOPInstanceUID))}.dcm"
        ds.save_as(series / name, enforce_file_format=True)
        count += 1
    if count == 0:
        shutil.rmtree(build)
        raise ValueError(f"study {target.name}: the PACS listed it but returned no instances")
    atomic.replace_dir(build, target)
    return count


def pull_studies(client, study_uids: list[str], root: Path, salt: bytes) -> list[dict]:
    """Retrieve each study not already under ``root``; one record per study, by pseudonym."""
    root.mkdir(parents=True, exist_ok=True)
    atomic.sweep_leftovers(root)
    records = []
    for study_uid in tqdm(study_uids, desc="pull studies", unit="study", file=sys.stderr):
        target = study_folder(root, salt, study_uid)
        if target.is_dir():
            records.append({"study": target.name, "status": "already pulled", "instances": None})
            continue
        count = retrieve_study(client, study_uid, target, salt)
        records.append({"study": target.name, "status": "pulled", "instances": count})
        tqdm.write(f"pulled {target.name}: {count} instances", file=sys.stderr)
    return records
