"""Step 1: convert a raw DICOM tree into one NIfTI per series and a Parquet manifest.

Headers are read first (in parallel) to plan; each series is then checked, read with SimpleITK and
written under a pseudonymous key. Series that cannot be trusted are quarantined with a reason and
stay in the manifest; the run goes on.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from medimg import atomic, deid
from medimg.dicom.headers import SliceHeader, Skipped, find_candidate_files, scan_headers
from medimg.dicom.series import SeriesPlan, check_geometry, group_series, read_series
from medimg.labels import JOIN_HEADER_FIELD, LabelEntry, load_labels
from medimg.layout import ProjectPaths
from medimg.manifest import write_manifest
from medimg.params import DataParams, Params, SplitParams
from medimg.splits import split_by_patient
from medimg.volume_io import array_of, content_checksum, geometry, read_nifti, resample_mask_to, write_nifti


@dataclass(frozen=True)
class SeriesJob:
    plan: SeriesPlan
    keys: dict[str, str]
    label: LabelEntry | None
    out_dir: Path


def _units(modality: str) -> str:
    return "HU" if modality == "CT" else "arbitrary"


def convert_series(job: SeriesJob) -> dict:
    """One manifest row for one series: converted, or quarantined with its reason."""
    plan, first = job.plan, job.plan.first
    row = {**job.keys, "modality": first.modality, "manufacturer": first.manufacturer, "ndim": 3,
           "n_files": len(plan.slices), "units": _units(first.modality),
           "label": job.label.label if job.label else None, "status": "ok", "reason_code": "", "reason": ""}
    problem = check_geometry(plan)
    if problem:
        return {**row, "status": "quarantined", "reason_code": problem.code, "reason": problem.reason}
    try:
        image = read_series(plan)
    except RuntimeError as exc:
        return {**row, "status": "quarantined", "reason_code": "unreadable_pixels",
                "reason": f"pixel data could not be decoded ({str(exc).splitlines()[0][:120]})"}
    volume_path = job.out_dir / "volumes" / f"{job.keys['series_key']}.nii.gz"
    write_nifti(image, volume_path)
    row.update(geometry(image), volume_path=str(volume_path.relative_to(job.out_dir)),
               checksum=content_checksum(image))
    if job.label and job.label.mask:
        if not job.label.mask.exists():
            return {**row, "status": "quarantined", "reason_code": "mask_missing",
                    "reason": "labels.csv names a mask file that does not exist"}
        mask = resample_mask_to(read_nifti(job.label.mask), image)
        mask_path = job.out_dir / "masks" / f"{job.keys['series_key']}.nii.gz"
        write_nifti(mask, mask_path)
        row["mask_path"] = str(mask_path.relative_to(job.out_dir))
    return row


def _series_keys(salt: bytes, plan: SeriesPlan) -> dict[str, str]:
    first = plan.first
    return {
        "patient_key": deid.pseudonym(salt, "patient", first.patient_id),
        "study_key": deid.pseudonym(salt, "study", first.study_uid),
        # the split key separates sub-series that share one SeriesInstanceUID
        "series_key": deid.pseudonym(salt, "series", f"{plan.series_uid}|{plan.split_key}"),
    }


def _convert_all(jobs: list[SeriesJob], workers: int) -> list[dict]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 4:
        return [convert_series(j) for j in tqdm(jobs, desc="convert series", unit="series")]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(convert_series, jobs), total=len(jobs), desc="convert series", unit="series"))


def ingest_tree(raw_dir: Path, out_dir: Path, salt: bytes, data: DataParams, split: SplitParams,
                workers: int = 0) -> dict:
    """Convert every series under ``raw_dir`` into ``out_dir`` (volumes/, masks/, manifest.parquet).

    Returns the summary: counts by modality, status and reason, and label-join problems.
    """
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: raw data folder not found")
    files, other_files = find_candidate_files(raw_dir)
    scanned = scan_headers(files, workers)
    headers = [h for h in scanned if isinstance(h, SliceHeader)]
    skipped = [h for h in scanned if isinstance(h, Skipped)]
    labels = load_labels(raw_dir, data.labels_csv, data.label_join, data.label_column, data.mask_column)
    join_field = JOIN_HEADER_FIELD[data.label_join]
    build = atomic.fresh_build_dir(out_dir)
    plans = group_series(headers)
    jobs = [SeriesJob(p, _series_keys(salt, p), labels.get(getattr(p.first, join_field)), build) for p in plans]
    rows = _convert_all(jobs, workers)
    frame = pd.DataFrame(rows)
    frame["split"] = split_by_patient(frame.assign(label=frame["label"].where(frame["status"] == "ok")),
                                      split.ratios, split.seed)
    manifest = write_manifest(frame.to_dict("records"), build / "manifest.parquet")
    atomic.replace_dir(build, out_dir)
    matched = {getattr(p.first, join_field) for p in plans} & set(labels)
    return {
        "files_found": len(files) + other_files,
        "dicom_image_files": len(headers),
        "series": len(manifest),
        "by_status": dict(Counter(manifest["status"])),
        "by_modality": dict(Counter(manifest["modality"])),
        "by_reason": dict(Counter(manifest.loc[manifest["status"] != "ok", "reason_code"])),
        "skipped_files_by_reason": dict(Counter(s.reason_code for s in skipped)),
        "other_files": other_files,
        "labels_in_csv": len(labels),
        "labels_matching_no_image": len(set(labels) - matched),
        "images_without_label": int(manifest["label"].isna().sum()),
        "by_split": {k: int(v) for k, v in manifest["split"].value_counts().items()},
    }


def run_ingest(params: Params, paths: ProjectPaths) -> dict:
    """The pipeline's ingest step: data.raw_dir → data/interim, summary in reports/ingest_summary.json."""
    salt = deid.load_salt(params.ingest.salt_env, paths.root / params.ingest.salt_file)
    summary = ingest_tree(paths.raw, paths.interim, salt, params.data, params.split, params.ingest.workers)
    atomic.write_json(paths.reports / "ingest_summary.json", summary)
    return {"manifest": str(paths.manifest), "summary": summary}
