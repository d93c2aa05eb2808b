"""The params.yaml schema: one typed model that validates the whole file before any work.

Every section forbids unknown keys, so a typo (``epoch`` for ``epochs``) fails with its key path
instead of being silently ignored. Errors are collected and reported together by
:func:`medimg.config.loading.load_params`, which raises :class:`ParamsError` with one line per problem.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from medimg.config.base import NonNegInt, ParamsError, PositiveFloat, PositiveInt, Ratio, Section
from medimg.config.catalog import CATALOG
from medimg.config.orchestration import OrchestrationParams, RetrainParams
from medimg.config.pacs import PacsParams, ResultsParams
from medimg.config.training import (
    LossParams,
    ModelParams,
    SamplingParams,
    StageParams,
    TrainParams,
    check_training,
)

__all__ = [
    "LossParams",
    "ModelParams",
    "NonNegInt",
    "OrchestrationParams",
    "RetrainParams",
    "ParamsError",
    "PositiveFloat",
    "PositiveInt",
    "Ratio",
    "SamplingParams",
    "Section",
    "StageParams",
    "TrainParams",
]

# HU window presets (level, width); lung -1000..400 HU is the one the demo trains on.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-300.0, 1400.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (60.0, 400.0),
}


class DataParams(Section):
    raw_dir: str = "data/raw/ct-nodule"
    interim_dir: str = "data/interim"
    processed_dir: str = "data/processed"
    models_dir: str = "models"
    reports_dir: str = "reports"
    artifacts_dir: str = "artifacts"
    labels_csv: str = "labels.csv"
    # how labels.csv rows find their images: a DICOM identifier, or `image` (path under raw_dir)
    label_join: Literal["patient_id", "study_instance_uid", "series_instance_uid", "image"] = (
        "series_instance_uid"
    )
    patient_column: str | None = None  # labels.csv column naming the patient of PNG/JPEG pictures
    label_column: str = "label"
    mask_column: str | None = None
    # from_dataset: raw_dir's dataset.json labels, resolved when params are loaded (config/loading.py)
    class_names: list[str] = Field(default_factory=lambda: ["negative", "positive"], min_length=2)
    # how raw_dir is organised: files (DICOM, pictures, volumes + labels.csv), decathlon (a Medical
    # Segmentation Decathlon or nnU-Net raw folder with dataset.json), or auto (decathlon if it looks so)
    layout: Literal["auto", "files", "decathlon"] = "auto"


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
    def _enough_series(self) -> CtNoduleDemo:
        if self.series < self.patients:
            raise ValueError(f"series ({self.series}) must be at least patients ({self.patients})")
        return self


class FundusDemo(Section):
    patients: PositiveInt = 250
    size: Annotated[int, Field(ge=32)] = 128


class SkinLesionDemo(Section):
    patients: PositiveInt = 200
    photos_per_patient: PositiveInt = 2
    size: Annotated[int, Field(ge=32)] = 128


class DemoParams(Section):
    seed: int = 7
    out_dir: str = "data/raw"
    ct_nodule: CtNoduleDemo = CtNoduleDemo()
    fundus_dr: FundusDemo = FundusDemo()
    skin_lesion: SkinLesionDemo = SkinLesionDemo()


FixOrQuarantine = Literal["fix", "quarantine"]


class GeometryPolicy(Section):
    """Per geometry defect: repair it (resample, drop, keep as 2D) or quarantine the series."""

    missing_slices: FixOrQuarantine = "quarantine"  # fix: interpolate across the gap
    nonuniform_spacing: FixOrQuarantine = "fix"  # fix: resample to the median spacing
    duplicate_positions: FixOrQuarantine = (
        "quarantine"  # fix: keep the first slice at each position
    )
    gantry_tilt: FixOrQuarantine = "fix"  # fix: resample onto an orthogonal grid
    single_slice: FixOrQuarantine = "quarantine"  # fix: keep it as a 2D item


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
    # k-fold cross-validation by patient over the non-test items (data/interim/splits.json);
    # 1 keeps one train/val split at ratios
    folds: Annotated[int, Field(ge=1, le=20)] = 1

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
    def _one_way(self) -> WindowParams:
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


class PhotoParams(Section):
    """The 2D recipe for photographs (fundus, dermoscopy) and other pictures."""

    # (height, width); null: the plan's (`plan: auto`), from the data and the compute budget
    size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] | None = Field(
        default_factory=lambda: [224, 224]
    )
    field_mask: bool = True  # black out what lies outside the camera's circular field
    clahe: bool = True
    clahe_clip: PositiveFloat = 2.0
    imagenet_norm: bool = False  # ImageNet mean/std, for models starting from ImageNet weights
    reject_blank: bool = True  # all-black / all-white frames are rejected with a reason


class PreprocessParams(Section):
    normalize: Literal["window", "percentile_zscore"] = (
        "window"  # percentile_zscore: nnU-Net-style CT, or MR
    )
    window: WindowParams = WindowParams()
    extra_windows: list[WindowParams] = Field(
        default_factory=list
    )  # more windows, one channel each
    percentiles: Annotated[
        list[Annotated[float, Field(ge=0, le=100)]], Field(min_length=2, max_length=2)
    ] = Field(default_factory=lambda: [0.5, 99.5])
    spacing: Annotated[list[PositiveFloat], Field(min_length=3, max_length=3)] | None = (
        None  # z, y, x mm
    )
    interpolation: Literal["linear", "bspline"] = "linear"  # images; masks always nearest
    crop: Literal["none", "body", "lungs"] = "body"
    target_shape: Annotated[list[PositiveInt], Field(min_length=3, max_length=3)] = Field(
        default_factory=lambda: [48, 48, 48]
    )
    shape_mode: Literal["resize", "crop_pad"] = (
        "resize"  # crop_pad keeps the spacing and centres the crop box
    )
    photo: PhotoParams = PhotoParams()
    workers: NonNegInt = 0

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> PreprocessParams:
        if self.percentiles[0] >= self.percentiles[1]:
            raise ValueError(
                f"percentiles must be [lower, upper] with lower < upper, got {self.percentiles}"
            )
        if self.shape_mode == "crop_pad" and self.spacing is None:
            raise ValueError("shape_mode: crop_pad needs a target spacing (preprocess.spacing)")
        return self

    def volume_channels(self) -> int:
        return 1 + len(self.extra_windows) if self.normalize == "window" else 1


class AugmentProbabilities(Section):
    """Volumes: the chance each transform is drawn for a sample, each on its own (nnU-Net's
    defaults in brackets; 1 applies a transform with a non-zero range to every sample)."""

    rotate: Ratio = 1.0  # (0.2) all three angles together
    scale: Ratio = 1.0  # (0.2)
    noise: Ratio = 1.0  # (0.1)
    blur: Ratio = 0.0  # (0.2) Gaussian blur, sigma 0.5-1 voxel
    multiply: Ratio = 1.0  # (0.15)
    contrast: Ratio = 1.0  # (0.15)
    low_resolution: Ratio = 0.0  # (0.25) down by 0.5-1 per axis, nearest, and back, linear
    gamma: Ratio = 1.0  # (0.3)
    gamma_inverted: Ratio = 0.0  # (0.1) the same gamma on the inverted image


class AugmentParams(Section):
    """Random training-time changes; 3D ones run batched on the training device."""

    enabled: bool = True
    flip_axes: list[Literal[0, 1, 2]] = Field(
        default_factory=lambda: [2]
    )  # array axes (z, y, x) / (y, x)
    rotate_degrees: Annotated[float, Field(ge=0, le=45)] = 0.0
    scale: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # +- fraction
    shift: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # +- fraction of the field of view
    elastic: Annotated[float, Field(ge=0, le=0.2)] = (
        0.0  # displacement, fraction of the field of view
    )
    noise_std: Annotated[float, Field(ge=0, le=1)] = 0.0
    brightness: Annotated[float, Field(ge=0, le=0.5)] = 0.05  # +- added intensity
    contrast: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # +- fraction
    # volumes only: intensities times 1 +- multiply (nnU-Net's brightness: 0.25)
    multiply: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    # volumes only: gamma drawn log-uniformly in [1 / (1 + gamma), 1 + gamma] (nnU-Net: 0.7-1.5)
    gamma: Annotated[float, Field(ge=0, le=1)] = 0.0
    grid_distortion: bool = False  # 2D only
    color_jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.0  # 2D photos only; never applied to CT
    probability: AugmentProbabilities = AugmentProbabilities()


class BootstrapParams(Section):
    resamples: Annotated[int, Field(ge=100)] = 1000  # patient resamples per 95% interval
    seed: int = 0


class EvaluateParams(Section):
    split: Literal["val", "test"] = "test"
    threshold: Literal["youden", "sensitivity"] = (
        "youden"  # chosen on val, applied unchanged to the split
    )
    target_sensitivity: Annotated[float, Field(gt=0, le=1)] = 0.9  # threshold: sensitivity
    bootstrap: BootstrapParams = BootstrapParams()
    subgroups: list[Literal["modality", "manufacturer", "units", "channels"]] = Field(
        default_factory=lambda: ["manufacturer"]
    )  # manifest columns to report metrics by
    ece_bins: Annotated[int, Field(ge=2, le=50)] = 10
    # temperature scaling fitted on val: the threshold, the reports and the bundle use its scores
    calibrate: bool = True
    explain_cases: NonNegInt = 2  # Grad-CAM figures per kind (true and false positives)
    # test-time augmentation: answers averaged over mirrored inputs, in evaluation, export and
    # predict alike (2^k passes for k flips); flip_z for volumes only
    tta: list[Literal["flip_x", "flip_y", "flip_z"]] = Field(default_factory=list)


class ExportParams(Section):
    opset: Annotated[int, Field(ge=13, le=23)] = 18
    parity_atol: PositiveFloat = 1e-4
    # plus this share of the sample's max |logit|: a deep 3D network's fp32 logits differ between
    # torch and onnxruntime by about 1e-4 of the largest (summation order), so 1e-4 failed by chance
    parity_rtol: Annotated[float, Field(ge=0, le=0.01)] = 1e-3
    parity_samples: PositiveInt = 8
    calibration_samples: PositiveInt = 32  # training items that set the INT8 activation ranges
    max_metric_drop: Annotated[float, Field(ge=0, le=1)] = (
        0.02  # key metric (AUC, kappa, Dice) a variant may lose
    )
    # sensitivity and specificity a variant's own operating point (chosen on val) may move
    max_operating_drop: Annotated[float, Field(ge=0, le=1)] = 0.02
    # median HD95 (voxels of the model's grid) a segmentation variant may add
    max_hd95_increase: Annotated[float, Field(ge=0)] = 1.0
    threads: NonNegInt = 0  # CPU threads for the latency figures; 0: the runtime's default
    # the CPUs the INT8 variants must behave the same on (medimg/deploy/cpu.py): avx2 uses 7-bit
    # weights, safe everywhere; vnni and arm64 use all 8 bits, which saturate on AVX2-only CPUs;
    # auto: the class of the machine that exports
    int8_target: Literal["auto", "avx2", "vnni", "arm64"] = "avx2"
    int8_conv3d: bool = (
        False  # quantize 3D convolutions too (slower than fp32 on onnxruntime's CPU kernels)
    )


class TrackingParams(Section):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "medimg"
    registered_model: Annotated[str, Field(min_length=1)] = (
        "medimg-model"  # MLflow model registry name
    )


class PlanParams(Section):
    """What `medimg plan` plans for: the memory one training process may use, and whether the later
    steps read the plan (``use: auto``, or ``plan: auto`` for short) for the keys params.yaml leaves
    out."""

    # auto: preprocess, train, evaluate, export take the plan's value for each key params.yaml leaves
    # out; manual: params.yaml holds every value and the plan is advice (`medimg plan --write`)
    use: Literal["auto", "manual"] = "manual"
    memory: Literal["gpu", "cpu"] = "gpu"  # which budget applies: where training will run
    gpu_memory_gb: PositiveFloat = 8.0  # nnU-Net plans for about 8 GB of GPU memory
    cpu_memory_gb: PositiveFloat = 4.0
    # 3D U-Nets trained on a CPU: the plan times the planned network here and sets
    # sampling.patches.batches_per_epoch so each fold trains in about this many minutes (5 folds in
    # an hour); on a GPU it keeps nnU-Net's 250 batches per epoch
    cpu_minutes_per_fold: PositiveFloat = 12.0

    def budget_gb(self) -> float:
        return self.gpu_memory_gb if self.memory == "gpu" else self.cpu_memory_gb

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `plan: auto` or `plan: manual` name the use with the default budgets
        if value in ("auto", "manual"):
            return {"use": value}
        return value


class Params(Section):
    data: DataParams = DataParams()
    demo: DemoParams = DemoParams()
    ingest: IngestParams = IngestParams()
    split: SplitParams = SplitParams()
    plan: PlanParams = PlanParams()
    preprocess: PreprocessParams = PreprocessParams()
    augment: AugmentParams = AugmentParams()
    model: ModelParams = ModelParams()
    train: TrainParams
    loss: LossParams = LossParams()
    sampling: SamplingParams = SamplingParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    tracking: TrackingParams = TrackingParams()
    orchestration: OrchestrationParams = OrchestrationParams()
    retrain: RetrainParams = RetrainParams()
    results: ResultsParams = ResultsParams()
    pacs: PacsParams = PacsParams()

    def left_to_plan(self) -> list[str]:
        """The keys written as null that only the plan can fill (see medimg.plan.applying)."""
        values = {
            "preprocess.photo.size": self.preprocess.photo.size,
            "model.width": self.model.width,
            "train.batch_size": self.train.batch_size,
        }
        return [key for key, value in values.items() if value is None]

    @model_validator(mode="after")
    def _labels_fit_model(self) -> Params:
        if len(self.data.class_names) != self.model.num_classes:
            raise ValueError(
                f"data.class_names has {len(self.data.class_names)} names "
                f"but model.num_classes is {self.model.num_classes}"
            )
        channels = self.preprocess.volume_channels()
        info = CATALOG[self.model.name]
        # each image channel (CT, or each MR sequence of a multi-channel volume) gives `channels`
        if info.ndim == 3 and self.model.in_channels % channels:
            raise ValueError(
                f"model.in_channels is {self.model.in_channels} but preprocess gives {channels} "
                "channel(s) per image channel (1 + len(preprocess.extra_windows)); it must be a "
                "multiple of that"
            )
        problems = check_training(self.model, self.train, self.loss)
        patch = self.sampling.patches.size
        if patch is not None and any(p > t for p, t in zip(patch, self.preprocess.target_shape)):
            problems.append(
                f"sampling.patches.size: {patch} is larger than preprocess.target_shape "
                f"{self.preprocess.target_shape}; a patch must fit inside the volume"
            )
        if patch is not None and self.model.name.startswith("unet"):
            strides = self.model.pool_strides or [[2] * len(patch)] * 4
            # each axis needs at least 2 voxels left after its poolings
            needed = [2 * math.prod(axis) for axis in zip(*strides)]
            if len(needed) == len(patch) and any(p < n for p, n in zip(patch, needed)):
                problems.append(
                    f"sampling.patches.size: {patch} is under {needed} on some axis; "
                    f"{self.model.name}'s poolings (model.pool_strides) need at least 2 voxels "
                    "left at its deepest level"
                )
        if self.plan.use == "manual":
            problems += [
                f"{key}: null leaves it to the plan, but plan.use is manual; set plan: auto or "
                "give a value"
                for key in self.left_to_plan()
            ]
        if self.split.folds > 1 and self.evaluate.split == "val":
            problems.append(
                f"evaluate.split: val, but split.folds is {self.split.folds}: k-fold training has "
                "no val split (each fold validates in turn); evaluate on test"
            )
        if "flip_z" in self.evaluate.tta and info.ndim != 3:
            problems.append(
                f"evaluate.tta: flip_z mirrors slices, but {self.model.name} takes 2D inputs; "
                "use flip_x and flip_y"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self
