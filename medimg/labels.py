"""labels.csv: one row per patient, study or series, joined to images by a clear identifier column.

The identifier is used in memory only to join; the manifest carries the pseudonymous key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

JOIN_HEADER_FIELD = {"patient_id": "patient_id", "study_instance_uid": "study_uid",
                     "series_instance_uid": "series_uid"}


@dataclass(frozen=True)
class LabelEntry:
    label: int
    mask: Path | None


class LabelError(ValueError):
    pass


def load_labels(raw_dir: Path, csv_name: str, join: str, label_column: str,
                mask_column: str | None) -> dict[str, LabelEntry]:
    """Map each identifier value to its label (and mask file); an empty map if there is no CSV."""
    path = raw_dir / csv_name
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str)
    for column in [join, label_column] + ([mask_column] if mask_column else []):
        if column not in table.columns:
            raise LabelError(f"{path}: column {column!r} not found (have {list(table.columns)})")
    entries = {}
    for line, row in enumerate(table.itertuples(index=False), start=2):
        values = row._asdict()
        try:
            label = int(values[label_column])
        except (TypeError, ValueError):
            raise LabelError(f"{path}:{line}: {label_column}={values[label_column]!r} is not an integer") from None
        mask = values.get(mask_column) if mask_column else None
        entries[str(values[join])] = LabelEntry(label, raw_dir / mask if isinstance(mask, str) and mask else None)
    return entries
