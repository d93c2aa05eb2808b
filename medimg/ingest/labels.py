"""labels.csv: one row per patient, study, series or picture, joined to images by a clear identifier.

The identifier is used in memory only to join; the manifest carries the pseudonymous key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medimg.io.problems import InputError


@dataclass(frozen=True)
class LabelEntry:
    label: int | None  # None: taken from the mask (has it the structure?)
    mask: Path | None
    patient: str | None = None  # from data.patient_column, for pictures without DICOM identifiers
    line: int = 0  # line in labels.csv, to report a row without naming its identifier
    split: str | None = None  # an official split (the csv's `split` column): kept as given


class LabelError(InputError, ValueError):
    pass


SPLIT_COLUMN = "split"  # optional labels.csv column: train / val / test, as a benchmark fixes them
SPLIT_VALUES = ("train", "val", "test")


def load_labels(
    raw_dir: Path,
    csv_name: str,
    join: str,
    label_column: str,
    mask_column: str | None,
    patient_column: str | None = None,
) -> dict[str, LabelEntry]:
    """Map each identifier value to its label (and mask file); an empty map if there is no CSV."""
    path = raw_dir / csv_name
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str)
    wanted = [join, label_column] + [c for c in (mask_column, patient_column) if c]
    for column in wanted:
        if column not in table.columns:
            raise LabelError(f"{path}: column {column!r} not found (have {list(table.columns)})")
    entries = {}
    for line, row in enumerate(table.itertuples(index=False), start=2):
        values = row._asdict()
        try:
            label = int(values[label_column])
        except (TypeError, ValueError):
            raise LabelError(
                f"{path}:{line}: {label_column}={values[label_column]!r} is not an integer"
            ) from None
        key = str(values[join])
        if key in entries:
            raise LabelError(f"{path}:{line}: {join} value appears twice; one label per {join}")
        given = values.get(SPLIT_COLUMN)
        given = given.strip().lower() if isinstance(given, str) and given.strip() else None
        if given is not None and given not in SPLIT_VALUES:
            raise LabelError(
                f"{path}:{line}: {SPLIT_COLUMN}={values[SPLIT_COLUMN]!r} is not one of "
                f"{', '.join(SPLIT_VALUES)} (or empty, to let ingest assign it)"
            )
        mask = values.get(mask_column) if mask_column else None
        patient = values.get(patient_column) if patient_column else None
        entries[key] = LabelEntry(
            label,
            raw_dir / mask if isinstance(mask, str) and mask else None,
            patient if isinstance(patient, str) and patient else None,
            line,
            given,
        )
    return entries


def given_splits(items: list[tuple[str, LabelEntry | None]], source: str) -> dict[str, str]:
    """The official split of each patient (``items``: patient key and its label row). One patient
    given two splits is an error naming the rows by their line in ``source``, never by identifier."""
    lines: dict[str, dict[str, list[int]]] = {}
    for patient, entry in items:
        if entry is not None and entry.split is not None:
            lines.setdefault(patient, {}).setdefault(entry.split, []).append(entry.line)
    conflicts = [
        " and ".join(
            f"line(s) {', '.join(map(str, sorted(set(rows))))} say {name}"
            for name, rows in sorted(by_split.items(), key=lambda kv: min(kv[1]))
        )
        for by_split in lines.values()
        if len(by_split) > 1
    ]
    if conflicts:
        raise LabelError(
            f"{source}: {len(conflicts)} patient(s) given two splits; a patient's images must share "
            f"one split: " + "; ".join(conflicts)
        )
    return {patient: next(iter(by_split)) for patient, by_split in lines.items()}
