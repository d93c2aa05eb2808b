"""Dataset folders read as they come: a Medical Segmentation Decathlon or nnU-Net raw folder.

Both hold ``imagesTr/``, ``labelsTr/``, optionally ``imagesTs/`` (and ``labelsTs/``) and a
``dataset.json`` naming the channels and labels. The Decathlon lists its cases in ``training`` and
``test`` (multi-channel images as 4D files); nnU-Net v2 names one file per channel
``<case>_0000<ending>``, ``<case>_0001<ending>`` and the label ``<case><ending>``; nnU-Net v1 lists
its cases as the Decathlon does (``imagesTr/<case>.nii.gz``) while its files are named per channel
as v2's are. Each case becomes one item; ``imagesTs`` cases are the official test split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medimg.io.dataset_json import DATASET_JSON, channel_names, label_names, read_dataset_json
from medimg.io.problems import InputError


class LayoutError(InputError, ValueError):
    """A dataset folder that does not hold what its dataset.json says."""


@dataclass(frozen=True)
class DatasetCase:
    channels: tuple[Path, ...]
    mask: Path | None
    split: Literal["test"] | None  # imagesTs: the official test split


@dataclass(frozen=True)
class Dataset:
    cases: list[DatasetCase]
    modality: str  # the first channel's name ("CT", "MRI", ...)
    label_names: dict[int, str]


def detect_layout(raw_dir: Path, layout: str) -> Literal["files", "decathlon"]:
    """``auto``: a folder with dataset.json and imagesTr/ is a Decathlon/nnU-Net dataset."""
    if layout != "auto":
        return layout  # type: ignore[return-value]
    found = (raw_dir / DATASET_JSON).is_file() and (raw_dir / "imagesTr").is_dir()
    return "decathlon" if found else "files"


def _ending(meta: dict, folder: Path) -> str:
    """nnU-Net's ``file_ending``; without it, .nii.gz if the images use it, else their suffix."""
    if "file_ending" in meta:
        return meta["file_ending"]
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    if not names or any(n.endswith(".nii.gz") for n in names):
        return ".nii.gz"
    return Path(names[0]).suffix


def _nnunet_cases(folder: Path, labels: Path, ending: str, count: int, split) -> list[DatasetCase]:
    by_case: dict[str, list[Path]] = {}
    for path in sorted(folder.glob(f"*{ending}")):
        stem = path.name[: -len(ending)]
        case, channel = stem[:-5], stem[-4:]
        if stem[-5] != "_" or not channel.isdigit():
            raise LayoutError(f"{path}: nnU-Net images are named <case>_0000{ending}")
        by_case.setdefault(case, []).append(path)
    cases = []
    for case, files in by_case.items():
        if len(files) != count:
            raise LayoutError(
                f"{folder}: case {len(cases) + 1} has {len(files)} channel file(s), dataset.json names {count}"
            )
        mask = labels / f"{case}{ending}"
        cases.append(DatasetCase(tuple(files), mask if mask.is_file() else None, split))
    return cases


def listed_channels(image: Path, count: int) -> tuple[Path, ...]:
    """The files behind one image dataset.json lists: the file itself (the Decathlon's, 4D when it
    has several channels), or where only ``<case>_0000<ending>``... exist beside the listed
    ``<case><ending>``, as nnU-Net v1 lays its folders out, those ``count`` channel files."""
    if image.is_file():
        return (image,)
    ending = ".nii.gz" if image.name.endswith(".nii.gz") else image.suffix
    stem = image.name[: -len(ending)] if ending else image.name
    per_channel = tuple(image.parent / f"{stem}_{c:04d}{ending}" for c in range(count))
    return per_channel if all(p.is_file() for p in per_channel) else (image,)


def _decathlon_cases(raw_dir: Path, meta: dict, count: int) -> list[DatasetCase]:
    def resolve(relative: str) -> Path:
        # normalised, not resolved: a file may be a link (DVC's symlink cache, a shared folder)
        return Path(os.path.abspath(raw_dir / relative))

    cases = []
    for entry in meta.get("training", []):
        image, label = resolve(entry["image"]), resolve(entry["label"])
        cases.append(DatasetCase(listed_channels(image, count), label, None))
    for entry in meta.get("test", []):
        image = resolve(entry if isinstance(entry, str) else entry["image"])
        mask = raw_dir / "labelsTs" / image.name
        channels = listed_channels(image, count)
        cases.append(DatasetCase(channels, mask if mask.is_file() else None, "test"))
    return cases


def read_dataset(raw_dir: Path) -> Dataset:
    """The cases of a Decathlon or nnU-Net raw folder, from its dataset.json."""
    path = raw_dir / DATASET_JSON
    meta = read_dataset_json(raw_dir)
    channels = channel_names(meta)
    if "training" in meta:  # the Decathlon's own format lists the files
        cases = _decathlon_cases(raw_dir, meta, len(channels))
    else:
        ending = _ending(meta, raw_dir / "imagesTr")
        cases = _nnunet_cases(
            raw_dir / "imagesTr", raw_dir / "labelsTr", ending, len(channels), None
        )
        if (raw_dir / "imagesTs").is_dir():
            cases += _nnunet_cases(
                raw_dir / "imagesTs", raw_dir / "labelsTs", ending, len(channels), "test"
            )
    missing = [f for c in cases for f in c.channels if not f.is_file()]
    if missing:
        first = missing[0]
        root = Path(os.path.abspath(raw_dir))
        shown = first.relative_to(root) if first.is_relative_to(root) else first
        raise LayoutError(
            f"{path}: {len(missing)} listed image file(s) do not exist, the first {shown} "
            "(nor its per-channel files <case>_0000...)"
        )
    return Dataset(cases, channels[0], label_names(meta))
