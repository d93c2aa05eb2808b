"""The params.yaml schema: one typed model that validates the whole file before any work.

Every section forbids unknown keys, so a typo (``epoch`` for ``epochs``) fails with its key path
instead of being silently ignored. Errors are collected and reported together by
:func:`load_params`, which raises :class:`ParamsError` with one line per problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]

# HU window presets (level, width); lung -1000..400 HU is the one the demo trains on.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-300.0, 1400.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (60.0, 400.0),
}


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message names every bad key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Section):
    raw_dir: str = "data/raw/ct-nodule"
    interim_dir: str = "data/interim"
    processed_dir: str = "data/processed"
    models_dir: str = "models"
    reports_dir: str = "reports"
    artifacts_dir: str = "artifacts"
    labels_csv: str = "labels.csv"
    # how labels.csv rows find their images: a DICOM identifier, or `image` (path under raw_dir)
    label_join: Literal["patient_id", "study_instance_uid", "series_instance_uid", "image"] = "series_instance_uid"
    patient_column: str | None = None  # labels.csv column naming the patient of PNG/JPEG pictures
    label_column: str = "label"
    mask_column: str | None = None
    class_names: list[str] = Field(default_factory=lambda: ["negative", "positive"], min_length=2)


class _Range(Section):
    """A min..max pair; subclasses fix the number type."""

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class RangeInt(_Range):
    min: PositiveInt
    max: PositiveInt


class RangeFloat(_Range):
    min: PositiveFloat
    max: PositiveFloat


class CtNoduleDemo(Section):
    patients: PositiveInt = 90
    series: PositiveInt = 120
    positive_fraction: Ratio = 0.4
    slices: RangeInt = RangeInt(min=40, max=64)
    matrix: Annotated[int, Field(ge=16)] = 96
    pixel_spacing_mm: RangeFloat = RangeFloat(min=3.4, max=4.0)
    slice_spacing_mm: RangeFloat = RangeFloat(min=2.5, max=5.0)
    nodule_diameter_mm: RangeFloat = RangeFloat(min=8.0, max=25.0)

    @model_validator(mode="after")
    def _enough_series(self) -> "CtNoduleDemo":
        if self.series < self.patients:
            raise ValueError(f"series ({self.series}) must be at least patients ({self.patients})")
        return self


class FundusDemo(Section):
    patients: PositiveInt = 100
    size: Annotated[int, Field(ge=32)] = 224


class DemoParams(Section):
    seed: int = 7
    out_dir: str = "data/raw"
    ct_nodule: CtNoduleDemo = CtNoduleDemo()
    fundus_dr: FundusDemo = FundusDemo()


FixOrQuarantine = Literal["fix", "quarantine"]


class GeometryPolicy(Section):
    """Per geometry defect: repair it (resample, drop, keep as 2D) or quarantine the series."""

    missing_slices: FixOrQuarantine = "quarantine"      # fix: interpolate across the gap
    nonuniform_spacing: FixOrQuarantine = "fix"         # fix: resample to the median spacing
    duplicate_positions: FixOrQuarantine = "quarantine" # fix: keep the first slice at each position
    gantry_tilt: FixOrQuarantine = "fix"                # fix: resample onto an orthogonal grid
    single_slice: FixOrQuarantine = "quarantine"        # fix: keep it as a 2D item


class IngestParams(Section):
    salt_env: str = "MEDIMG_SALT"
    salt_file: str = ".medimg/salt"
    workers: NonNegInt = 0  # 0: one per core
    geometry: GeometryPolicy = GeometryPolicy()
    compression_level: Annotated[int, Field(ge=1, le=9)] = 1  # gzip level of the NIfTI files


class SplitParams(Section):
    ratios: dict[Literal["train", "val", "test"], Ratio] = Field(
        default_factory=lambda: {"train": 0.6, "val": 0.15, "test": 0.25}
    )
    seed: int = 42

    @field_validator("ratios")
    @classmethod
    def _sum_to_one(cls, ratios: dict[str, float]) -> dict[str, float]:
        missing = {"train", "val", "test"} - set(ratios)
        if missing:
            raise ValueError(f"missing split(s) {sorted(missing)}")
        total = sum(ratios.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"ratios must sum to 1, got {total:g}")
        return ratios


class WindowParams(Section):
    preset: Literal["lung", "mediastinum", "bone", "brain", "abdomen"] | None = "lung"
    level: float | None = None
    width: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "WindowParams":
        custom = self.level is not None or self.width is not None
        if custom and (self.level is None or self.width is None):
            raise ValueError("a custom window needs both level and width")
        if custom and self.preset is not None:
            raise ValueError("give either preset or level/width, not both (set preset: null)")
        if not custom and self.preset is None:
            raise ValueError("give a preset or level and width")
        return self

    def bounds(self) -> tuple[float, float]:
        level, width = WINDOW_PRESETS[self.preset] if self.preset else (self.level, self.width)
        return level - width / 2.0, level + width / 2.0


class PreprocessParams(Section):
    window: WindowParams = WindowParams()
    crop: Literal["none", "body", "lungs"] = "body"
    target_shape: Annotated[list[PositiveInt], Field(min_length=3, max_length=3)] = Field(
        default_factory=lambda: [48, 48, 48]
    )
    workers: NonNegInt = 0


class AugmentParams(Section):
    enabled: bool = True
    flip_axes: list[Literal[0, 1, 2]] = Field(default_factory=lambda: [2])
    intensity_shift: Annotated[float, Field(ge=0, le=0.5)] = 0.05


class ModelParams(Section):
    name: Literal["resnet3d_18", "resnet3d_34"] = "resnet3d_18"
    in_channels: PositiveInt = 1
    num_classes: Annotated[int, Field(ge=2)] = 2
    width: PositiveInt = 64  # channels of the first block; the papers use 64
    head_hidden: PositiveInt = 256
    dropout: Ratio = 0.5
    pool: Literal["avg", "max"] = "avg"
    init: str = "none"  # none | path to an earlier medimg checkpoint


class EarlyStopping(Section):
    metric: Literal["auc", "loss", "accuracy"] = "auc"
    patience: PositiveInt = 5


class StageParams(Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    epochs: PositiveInt
    trainable: Literal["head", "all"]
    lr_head: PositiveFloat = 1e-3
    lr_backbone: PositiveFloat | None = None
    layer_decay: Annotated[float, Field(gt=0, le=1)] = 1.0
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    warmup_epochs: NonNegInt = 0
    early_stopping: EarlyStopping = EarlyStopping()

    @model_validator(mode="after")
    def _backbone_lr(self) -> "StageParams":
        if self.trainable == "all" and self.lr_backbone is None:
            raise ValueError("trainable: all needs lr_backbone")
        return self


class TrainParams(Section):
    seed: int = 0
    batch_size: PositiveInt = 8
    num_workers: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = True
    grad_clip: Annotated[float, Field(ge=0)] = 1.0
    stages: list[StageParams] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageParams]) -> list[StageParams]:
        names = [s.name for s in stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique, repeated: {dupes}")
        return stages

    def stage(self, name: str) -> tuple[int, StageParams]:
        for index, stage in enumerate(self.stages):
            if stage.name == name:
                return index, stage
        raise ParamsError(f"train.stages: no stage named {name!r} (have {[s.name for s in self.stages]})")


class LossParams(Section):
    name: Literal["cross_entropy"] = "cross_entropy"
    class_weights: Literal["none", "inverse"] = "inverse"


class EvaluateParams(Section):
    split: Literal["val", "test"] = "test"
    threshold: Literal["youden"] = "youden"


class ExportParams(Section):
    opset: Annotated[int, Field(ge=13, le=23)] = 18
    parity_atol: PositiveFloat = 1e-4
    parity_samples: PositiveInt = 8


class TrackingParams(Section):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "medimg"


class OrchestrationParams(Section):
    retries: NonNegInt = 2
    retry_delay_s: Annotated[float, Field(ge=0)] = 10.0
    timeout_s: PositiveFloat = 3600.0


class Params(Section):
    data: DataParams = DataParams()
    demo: DemoParams = DemoParams()
    ingest: IngestParams = IngestParams()
    split: SplitParams = SplitParams()
    preprocess: PreprocessParams = PreprocessParams()
    augment: AugmentParams = AugmentParams()
    model: ModelParams = ModelParams()
    train: TrainParams
    loss: LossParams = LossParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    tracking: TrackingParams = TrackingParams()
    orchestration: OrchestrationParams = OrchestrationParams()

    @model_validator(mode="after")
    def _labels_fit_model(self) -> "Params":
        if len(self.data.class_names) != self.model.num_classes:
            raise ValueError(
                f"data.class_names has {len(self.data.class_names)} names "
                f"but model.num_classes is {self.model.num_classes}"
            )
        return self


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"function-after", "function-before"} or "[" in str(part):
            continue  # pydantic's internal validator frames, not user keys
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid params ({err.error_count()} problem(s)):"]
    for item in err.errors():
        key = _key_path(item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and section)"
        elif "input" in item and item["type"] not in {"missing"}:
            msg += f" (got {item['input']!r})"
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def parse_override(assignment: str) -> tuple[list[str | int], Any]:
    """Split ``train.stages[1].epochs=3`` into a key path and a YAML-typed value."""
    if "=" not in assignment:
        raise ParamsError(f"--set {assignment!r}: expected key.path=value")
    key, raw = assignment.split("=", 1)
    path: list[str | int] = []
    for part in key.replace("]", "").replace("[", ".").split("."):
        if part == "":
            continue
        path.append(int(part) if part.isdigit() else part)
    if not path:
        raise ParamsError(f"--set {assignment!r}: empty key")
    return path, yaml.safe_load(raw)


def apply_override(raw: dict[str, Any], path: list[str | int], value: Any) -> None:
    node: Any = raw
    for depth, part in enumerate(path[:-1]):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            shown = ".".join(str(p) for p in path[: depth + 1])
            raise ParamsError(f"--set: no key {shown!r} in params") from None
    try:
        node[path[-1]] = value
    except (IndexError, TypeError):
        raise ParamsError(f"--set: cannot set {'.'.join(map(str, path))!r}") from None


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override and validate a params file. Raises ParamsError naming every bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    for assignment in overrides or []:
        apply_override(raw, *parse_override(assignment))
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, str(path))) from None


def demo_outputs(params: Params) -> set[Path]:
    """Raw folders the demo-data step creates, so a check can tell 'not generated yet' from 'missing'."""
    out = Path(params.demo.out_dir)
    return {out / "ct-nodule", out / "fundus-dr"}


def check_paths(params: Params, root: Path = Path(".")) -> list[str]:
    """Filesystem problems that make the params unusable; a raw folder the demo will make is fine."""
    problems = []
    raw = Path(params.data.raw_dir)
    if not (root / raw).is_dir() and raw not in demo_outputs(params):
        problems.append(f"data.raw_dir: folder {raw} does not exist (dvc pull, or dvc add your data there)")
    init = params.model.init
    if init != "none" and not (root / init).is_file():
        problems.append(f"model.init: checkpoint {init} does not exist (use none or a medimg checkpoint)")
    return problems
