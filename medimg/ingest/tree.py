"""Ingest a raw tree: convert (DICOM at any depth, PNG/JPEG pictures) into NIfTI images and a manifest.

Headers are read first, in parallel, to plan: series are grouped, split and ordered, pictures listed,
non-image objects reported. Items whose sources are unchanged since the last run keep their row and
file; only new or changed items are converted. Quarantined items stay in the manifest with a reason.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from medimg.config.schema import DataParams, IngestParams, SplitParams
from medimg.ingest import deid
from medimg.ingest.conversion import ItemJob, convert_item, fingerprint
from medimg.ingest.dicom.headers import Skipped, SliceHeader, find_candidate_files
from medimg.ingest.dicom.scanner import scan_headers
from medimg.ingest.dicom.series import SeriesPlan, group_series
from medimg.ingest.folds import fold_pool, write_folds
from medimg.ingest.labels import LabelEntry, given_splits, load_labels
from medimg.ingest.layouts import Dataset, detect_layout, read_dataset
from medimg.ingest.manifest import COLUMNS, write_manifest
from medimg.ingest.splits import assign_splits, ignored_test_ratio_warning, split_protocol
from medimg.io.fan_out import MapItems
from medimg.io.problems import MissingInput


def _join_value(
    data: DataParams, raw_dir: Path, first: SliceHeader | None, picture: Path | None
) -> str:
    if data.label_join == "image":
        return (picture or Path(first.path)).relative_to(raw_dir).as_posix()
    if first is None:
        return ""
    return {
        "patient_id": first.patient_id,
        "study_instance_uid": first.study_uid,
        "series_instance_uid": first.series_uid,
    }[data.label_join]


def _dicom_keys(salt: bytes, first: SliceHeader, series_identity: str) -> dict[str, str]:
    # without a PatientID the study stands in, so unrelated anonymous studies are not merged
    patient = first.patient_id or f"study:{first.study_uid}"
    return {
        "patient_key": deid.pseudonym(salt, "patient", patient),
        "study_key": deid.pseudonym(salt, "study", first.study_uid),
        "series_key": deid.pseudonym(salt, "series", series_identity),
    }


def _file_keys(salt: bytes, relative: str, label: LabelEntry | None) -> dict[str, str]:
    """Keys of an item that is a file (a picture, a volume): its path stands in for the series."""
    patient = label.patient if label and label.patient else f"image:{relative}"
    return {
        "patient_key": deid.pseudonym(salt, "patient", patient),
        "study_key": deid.pseudonym(salt, "study", f"image:{relative}"),
        "series_key": deid.pseudonym(salt, "series", f"image:{relative}"),
    }


def plan_jobs(
    raw_dir: Path,
    out_dir: Path,
    salt: bytes,
    data: DataParams,
    ingest: IngestParams,
    headers: list[SliceHeader],
    pictures: list[Path],
    labels: dict[str, LabelEntry],
    volumes: list[Path] = (),
    dataset: Dataset | None = None,
) -> list[ItemJob]:
    """One job per series (split into sub-series where needed), DICOM picture, picture file and
    volume file (or dataset case)."""
    common = dict(
        out_dir=out_dir, policy=ingest.geometry, compression_level=ingest.compression_level
    )
    jobs = []
    for plan in group_series([h for h in headers if not h.is_picture]):
        label = labels.get(_join_value(data, raw_dir, plan.first, None))
        keys = _dicom_keys(salt, plan.first, f"{plan.series_uid}|{plan.split_key}")
        jobs.append(ItemJob("series", keys, plan=plan, label=label, **common))
    for header in (h for h in headers if h.is_picture):
        label = labels.get(_join_value(data, raw_dir, header, None))
        keys = _dicom_keys(
            salt, header, f"{header.series_uid}|{header.instance_uid}|{header.frame}"
        )
        plan = SeriesPlan(header.series_uid, header.instance_uid, [header])
        jobs.append(ItemJob("dicom_picture", keys, plan=plan, label=label, **common))
    masks = {entry.mask for entry in labels.values() if entry.mask}  # not items of their own
    for picture in (p for p in pictures if p not in masks):
        relative = picture.relative_to(raw_dir).as_posix()
        label = labels.get(_join_value(data, raw_dir, None, picture))
        jobs.append(
            ItemJob(
                "picture_file",
                _file_keys(salt, relative, label),
                picture=picture,
                label=label,
                **common,
            )
        )
    jobs += volume_jobs(
        raw_dir, salt, data, [v for v in volumes if v not in masks], labels, dataset, common
    )
    return [replace(job, fingerprint=fingerprint(job, raw_dir)) for job in jobs]


def _relative(path: Path, raw_dir: Path) -> str:
    """``path`` under ``raw_dir``, links kept as they are (a linked file names its link)."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(raw_dir)).as_posix()


def volume_jobs(
    raw_dir: Path,
    salt: bytes,
    data: DataParams,
    volumes: list[Path],
    labels: dict[str, LabelEntry],
    dataset: Dataset | None,
    common: dict,
) -> list[ItemJob]:
    """One job per volume file (its label row joined by relative path, as pictures are; masks
    already left out), or per case of a Decathlon/nnU-Net dataset (its channel files, label map and
    official test split)."""
    if dataset is not None:
        return [
            ItemJob(
                "volume_file",
                _file_keys(salt, _relative(case.channels[0], raw_dir), None),
                volume_files=case.channels,
                modality=dataset.modality,
                label=LabelEntry(None, case.mask, None, 0, case.split)
                if case.mask or case.split
                else None,
                **common,
            )
            for case in dataset.cases
        ]
    jobs = []
    for volume in volumes:
        label = labels.get(_join_value(data, raw_dir, None, volume))
        keys = _file_keys(salt, volume.relative_to(raw_dir).as_posix(), label)
        jobs.append(ItemJob("volume_file", keys, volume_files=(volume,), label=label, **common))
    return jobs


def _reused_label(job: ItemJob, old_rows: dict[str, dict]):
    """A reused item's label: labels.csv's current value (it may have changed), or, for a dataset
    case whose label came from its mask, the one conversion found."""
    if job.label is None:
        return None
    if job.label.label is None:
        return old_rows[job.keys["series_key"]]["label"]
    return job.label.label


def _previous_manifest(out_dir: Path) -> pd.DataFrame | None:
    path = out_dir / "manifest.parquet"
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    return frame if set(COLUMNS) <= set(frame.columns) else None


def _reusable(row: dict, job: ItemJob, out_dir: Path) -> bool:
    """An earlier row still describes this item: same sources and settings, and its files are there."""
    if row.get("source_fingerprint") != job.fingerprint:
        return False
    wanted = [row.get("volume_path"), row.get("mask_path")] if row["status"] == "ok" else []
    return all((out_dir / p).is_file() for p in wanted if isinstance(p, str) and p)


def _convert_all(
    jobs: list[ItemJob], pool: Executor | None, map_items: MapItems | None = None
) -> list[dict]:
    if map_items is not None:
        return map_items(convert_item, jobs)
    bar = dict(total=len(jobs), desc="convert", unit="item")
    if pool is None or len(jobs) < 4:
        return [convert_item(j) for j in tqdm(jobs, **bar)]
    # biggest series first, so one long series does not run alone at the end
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].source_files))
    done = list(tqdm(pool.map(convert_item, [jobs[i] for i in order]), **bar))
    rows: list[dict] = [{}] * len(jobs)
    for i, row in zip(order, done):
        rows[i] = row
    return rows


def _prune(out_dir: Path, manifest: pd.DataFrame) -> int:
    """Delete images and masks no manifest row points at (items removed from the raw tree)."""
    keep = {
        out_dir / p
        for column in ("volume_path", "mask_path")
        for p in manifest[column].dropna()
        if p
    }
    removed = 0
    for folder in (out_dir / "volumes", out_dir / "masks"):
        for path in folder.glob("*.nii.gz") if folder.is_dir() else []:
            if path not in keep:
                path.unlink()
                removed += 1
    return removed


def ingest_tree(
    raw_dir: Path,
    out_dir: Path,
    salt: bytes,
    data: DataParams,
    split: SplitParams,
    ingest: IngestParams | None = None,
    map_items: MapItems | None = None,
) -> dict:
    """Convert every item under ``raw_dir`` into ``out_dir`` (volumes/, masks/, manifest.parquet).

    Incremental: unchanged items are reused, so a rerun on the same tree writes nothing. Returns the
    summary: counts by modality, status, reason and fix, skipped files, and label-join problems.
    ``map_items`` replaces the local pool for converting the series.
    """
    ingest = ingest or IngestParams()
    if not raw_dir.is_dir():
        raise MissingInput(f"{raw_dir}: raw data folder not found")
    workers = ingest.workers or os.cpu_count() or 1
    # one pool for both phases: worker start-up (imports) is paid once
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        return _ingest_with(raw_dir, out_dir, salt, data, split, ingest, pool, map_items)


def _ingest_with(
    raw_dir: Path,
    out_dir: Path,
    salt: bytes,
    data: DataParams,
    split: SplitParams,
    ingest: IngestParams,
    pool: Executor | None,
    map_items: MapItems | None,
) -> dict:
    files, pictures, volumes, other_files = find_candidate_files(raw_dir)
    scanned = scan_headers(files, ingest.workers, pool)
    headers = [h for h in scanned if isinstance(h, SliceHeader)]
    skipped = other_files + [h for h in scanned if isinstance(h, Skipped)]
    dataset = read_dataset(raw_dir) if detect_layout(raw_dir, data.layout) == "decathlon" else None
    labels = (
        {}
        if dataset is not None
        else load_labels(
            raw_dir,
            data.labels_csv,
            data.label_join,
            data.label_column,
            data.mask_column,
            data.patient_column,
        )
    )
    jobs = plan_jobs(
        raw_dir, out_dir, salt, data, ingest, headers, pictures, labels, volumes, dataset
    )
    given = given_splits(
        [(j.keys["patient_key"], j.label) for j in jobs], str(raw_dir / data.labels_csv)
    )
    for folder in ("volumes", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)

    previous = _previous_manifest(out_dir)
    old_rows = (
        {r["series_key"]: r for r in previous.to_dict("records")} if previous is not None else {}
    )
    reused = [
        j
        for j in jobs
        if j.keys["series_key"] in old_rows
        and _reusable(old_rows[j.keys["series_key"]], j, out_dir)
    ]
    reused_keys = {j.keys["series_key"] for j in reused}
    todo = [j for j in jobs if j.keys["series_key"] not in reused_keys]
    rows = [{**old_rows[j.keys["series_key"]], "label": _reused_label(j, old_rows)} for j in reused]
    rows += _convert_all(todo, pool, map_items)

    frame = pd.DataFrame(rows, columns=COLUMNS)
    earlier_split = (
        dict(zip(previous["patient_key"], previous["split"])) if previous is not None else {}
    )
    labelled = frame.assign(label=frame["label"].where(frame["status"] == "ok"))
    frame[["split", "split_source"]] = assign_splits(
        labelled, given, split.ratios, split.seed, earlier_split, split.folds
    )
    manifest = write_manifest(
        frame.to_dict("records"), out_dir / "manifest.parquet", unless_equal=previous
    )
    pruned = _prune(out_dir, manifest)
    # after the manifest, so a dataset too small for its folds keeps every conversion for the rerun
    folds = write_folds(fold_pool(manifest), split.folds, split.seed, out_dir)
    protocol = split_protocol(
        manifest["split"], manifest["split_source"], split.ratios, split.folds
    )
    official_test = protocol["test_items"] if protocol["test"] == "official" else 0
    joined = {
        _join_value(
            data,
            raw_dir,
            j.plan.first if j.plan else None,
            j.picture or next(iter(j.volume_files), None),
        )
        for j in jobs
    }
    return {
        "files_found": len(files) + len(pictures) + len(volumes) + len(other_files),
        "dicom_frames": len(headers),
        "items": len(manifest),
        "by_status": dict(Counter(manifest["status"])),
        "by_modality": dict(Counter(manifest["modality"])),
        "by_ndim": {str(k): v for k, v in Counter(manifest["ndim"]).items()},
        "by_reason": dict(Counter(manifest.loc[manifest["status"] != "ok", "reason_code"])),
        "fixed": dict(
            Counter(f for fixes in manifest["fixes"].dropna() for f in fixes.split(";") if f)
        ),
        "skipped_files_by_reason": dict(Counter(s.reason_code for s in skipped)),
        "non_image_objects": dict(Counter(s.object_type for s in skipped if s.object_type)),
        "labels_in_csv": len(labels),
        "label_rows_matching_no_image": sorted(labels[k].line for k in set(labels) - joined),
        "items_without_label": int(manifest["label"].isna().sum()),
        "by_split_source": dict(Counter(manifest["split_source"].dropna())),
        "layout": "decathlon" if dataset is not None else "files",
        # what dataset.json calls each label value: data.class_names should say the same
        "dataset_labels": {str(k): v for k, v in dataset.label_names.items()} if dataset else None,
        "by_split": {k: int(v) for k, v in manifest["split"].value_counts().items()},
        "split_protocol": protocol,
        "folds": [
            {k: f[k] for k in ("fold", "val_patients", "val_positive_patients")}
            for f in folds["splits"]
        ],
        "warnings": [w for w in (ignored_test_ratio_warning(split.ratios, official_test),) if w],
        # what this run did; not part of the data's summary, so a no-op rerun changes no file
        "run": {"converted": len(todo), "reused": len(reused), "pruned_files": pruned},
    }


def headline_counts(summary: dict) -> dict:
    """The ingest figures `dvc metrics show` lists (reports/ingest_metrics.json): items by status
    and split, and files skipped; the reasons stay in reports/ingest_summary.json."""
    status, split = summary["by_status"], summary["by_split"]
    return {
        "items": summary["items"],
        "ok": status.get("ok", 0),
        "quarantined": status.get("quarantined", 0),
        "skipped_files": sum(summary["skipped_files_by_reason"].values()),
        **{name: split.get(name, 0) for name in ("train", "val", "test")},
    }


def format_summary(summary: dict) -> str:
    """The summary as a few lines for people; reports/ingest_summary.json has the same figures."""
    lines = [
        f"ingest: {summary['items']} items from {summary['files_found']} files "
        f"({summary['run']['converted']} converted, {summary['run']['reused']} unchanged)"
    ]
    for title in (
        "by_status",
        "by_modality",
        "by_reason",
        "fixed",
        "skipped_files_by_reason",
        "non_image_objects",
        "by_split",
    ):
        if summary[title]:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(summary[title].items()))
            lines.append(f"  {title.replace('_', ' ')}: {counts}")
    if summary["items_without_label"] or summary["label_rows_matching_no_image"]:
        lines.append(
            f"  labels: {summary['items_without_label']} item(s) without a label; labels.csv rows "
            f"matching no image: {summary['label_rows_matching_no_image'] or 'none'}"
        )
    lines += [f"  split protocol: {summary['split_protocol']['text']}"]
    lines += [f"warning: {w}" for w in summary["warnings"]]
    return "\n".join(lines)
