"""The deployment bundle: everything besides the model files that predict needs to answer as the
trained model would, in one typed, versioned file (``bundle.json``) beside the model files.

The export step is its one writer; predict, promote, the PACS watcher, the model registry and the
tests read it through ``load_bundle_spec`` alone. A bundle from another schema version fails with a
sentence saying which side to upgrade, never with a half-read spec and silent defaults.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from medimg.config.pacs import ResultsParams
from medimg.config.schema import GeometryPolicy, PreprocessParams
from medimg.config.variants import REFERENCE
from medimg.io import atomic
from medimg.io.problems import InputError

BUNDLE_FILE = "bundle.json"
LEGACY_BUNDLE_FILE = "preprocess.json"  # its name up to schema 1; read with a deprecation warning
SCHEMA_VERSION = 1


class BundleError(InputError, ValueError):
    """A bundle folder that is missing, unreadable or of another schema version."""


class RegisteredModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str


class Bundle(BaseModel):
    """What the export step validated, as predict replays it."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    medimg_version: str
    task: Literal["classification", "segmentation"]
    ndim: Literal[2, 3]  # of the images predict reads
    model_ndim: Literal[2, 3]  # of the network (a 2D network segments a volume slice by slice)
    patch: list[int] | None  # sliding-window patch for 3D segmentation, None for whole inputs
    overlap: float | None
    model: str
    class_names: list[str]
    positive_threshold: float | None  # the evaluate step's operating point on val
    temperature: float  # predict reports softmax(logits / temperature), fitted on val
    thresholds: dict[str, float | None]  # each variant's own, chosen on val: what predict applies
    input_name: str
    input_shape: list[int]
    models: dict[str, str]  # variant → file
    backends: dict[str, str]  # variant → runtime
    int8_target: str  # the format the INT8 variants were quantized in
    int8_validated_on: str  # the CPU class the gate measured them on
    preprocess: PreprocessParams
    ingest_geometry: GeometryPolicy
    dicom: ResultsParams  # codes of predict's SEG/SR
    # set only in a bundle fetched from the model registry (the watcher's champion): the version
    # DICOM results name. An exported bundle has none, so an export rerun writes the same file.
    registered_model: RegisteredModel | None = None
    # labels kept to their largest connected component: decided out of fold by evaluate
    largest_component: list[int] = []

    def threshold(self, variant: str) -> float:
        """The positive-class threshold predict applies for ``variant``."""
        own = self.thresholds.get(variant)
        if own is not None:
            return own
        return 0.5 if self.positive_threshold is None else self.positive_threshold

    @property
    def reference_file(self) -> str:
        return self.models[REFERENCE]


def bundle_path(folder: Path) -> Path:
    """The bundle file of ``folder``: bundle.json, or the legacy preprocess.json when only that exists."""
    current = Path(folder) / BUNDLE_FILE
    legacy = Path(folder) / LEGACY_BUNDLE_FILE
    return legacy if not current.exists() and legacy.exists() else current


def has_bundle(folder: Path) -> bool:
    return bundle_path(folder).is_file()


def parse_bundle(raw: dict, source: str, legacy: bool = False) -> Bundle:
    """``raw`` (a bundle file's JSON) as a Bundle; a BundleError naming ``source`` and the reason."""
    if not isinstance(raw, dict):
        raise BundleError(f"{source}: not a medimg bundle (expected a JSON object)")
    # the legacy file is schema 1 without the field: the name changed, not the content
    version = raw.get("schema_version", SCHEMA_VERSION if legacy else None)
    if version is None:
        raise BundleError(
            f"{source}: written by a medimg older than bundle schema {SCHEMA_VERSION} "
            "(no schema_version); re-run the export step"
        )
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise BundleError(
            f"{source}: bundle schema {version} is newer than this medimg reads "
            f"({SCHEMA_VERSION}); upgrade medimg, or export the model with this version"
        )
    if version < SCHEMA_VERSION:
        raise BundleError(
            f"{source}: bundle schema {version} is older than this medimg reads "
            f"({SCHEMA_VERSION}); re-run the export step"
        )
    try:
        return Bundle.model_validate({**raw, "schema_version": version})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise BundleError(
            f"{source}: not a valid bundle ({problems}); re-run the export step"
        ) from None


def load_bundle_spec(folder: Path) -> Bundle:
    """The bundle in ``folder`` (an exported artifacts folder); a BundleError says why not."""
    path = bundle_path(folder)
    if not path.exists():
        raise BundleError(
            f"{Path(folder) / BUNDLE_FILE}: missing; point --model at an exported artifacts folder"
        )
    legacy = path.name == LEGACY_BUNDLE_FILE
    if legacy:
        warnings.warn(
            f"{path}: {LEGACY_BUNDLE_FILE} is the old name of {BUNDLE_FILE}; re-run the export "
            "step to write it under the new name (the old name will stop being read)",
            FutureWarning,  # shown by default: the person who runs predict is the one to act
            stacklevel=2,
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not readable JSON ({exc.msg}, line {exc.lineno})") from None
    return parse_bundle(raw, str(path), legacy)


def write_bundle(bundle: Bundle, folder: Path) -> Path:
    """The one writer (the export step, and the registry's copy of a champion): atomic."""
    target = Path(folder) / BUNDLE_FILE
    # the recipe without preprocess.workers (how many processes made the cache, not what the
    # model sees), and no registered_model in an exported bundle, so reruns write the same bytes
    exclude: dict = {"preprocess": {"workers"}}
    if bundle.registered_model is None:
        exclude["registered_model"] = True
    atomic.write_json(target, bundle.model_dump(mode="json", exclude=exclude))
    return target
