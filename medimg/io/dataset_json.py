"""A Decathlon or nnU-Net ``dataset.json``: its channel names and its label names.

Ingest reads the whole file (medimg/ingest/layouts.py); params read the label names from it when
``data.class_names`` is ``from_dataset``.
"""

from __future__ import annotations

import json
from pathlib import Path

from medimg.io.problems import InputError

DATASET_JSON = "dataset.json"


class DatasetJsonError(InputError, ValueError):
    """A dataset.json that cannot be read or does not say what is needed."""


def read_dataset_json(folder: Path) -> dict:
    path = Path(folder) / DATASET_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetJsonError(f"{path}: not readable JSON ({exc})") from None


def label_names(meta: dict) -> dict[int, str]:
    """Label value -> name. The Decathlon maps value -> name, nnU-Net v2 name -> value."""
    labels = meta.get("labels", {})
    pairs = [(int(k), v) if str(k).isdigit() else (int(v), k) for k, v in labels.items()]
    return dict(sorted(pairs))


def channel_names(meta: dict) -> list[str]:
    """The channels in order (nnU-Net v2 ``channel_names``, the Decathlon's ``modality``)."""
    names = meta.get("channel_names") or meta.get("modality") or {"0": "OT"}
    return [names[k] for k in sorted(names, key=int)]


def class_names_of(folder: Path) -> list[str]:
    """The label names in value order, 0 first: what ``data.class_names`` must say."""
    names = label_names(read_dataset_json(folder))
    if list(names) != list(range(len(names))) or len(names) < 2:
        raise DatasetJsonError(
            f"{Path(folder) / DATASET_JSON}: labels must be 0..n-1 with at least two, got {sorted(names)}"
        )
    return list(names.values())
