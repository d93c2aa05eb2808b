"""The params sections of the training step: model, train (with its stages) and loss.

``check_training`` cross-checks them against the model catalog (torch-free), so that a stage
naming a layer the model lacks, or a metric or loss that does not fit the task, fails before work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from medimg.config.base import NonNegInt, ParamsError, PositiveFloat, PositiveInt, Ratio, Section
from medimg.config.catalog import (
    CATALOG,
    CLASSIFICATION_LOSSES,
    CLASSIFICATION_METRICS,
    MODEL_NAMES,
    NATIVE_OUTPUT_STRIDE,
    SEGMENTATION_LOSSES,
    SEGMENTATION_METRICS,
)


class ModelParams(Section):
    name: Literal[MODEL_NAMES] = "resnet3d_18"  # type: ignore[valid-type]
    in_channels: PositiveInt = 1
    num_classes: Annotated[int, Field(ge=2)] = 2
    # first-block channels of resnet3d_* and unet*; the papers use 64; null: the plan's
    width: PositiveInt | None = 64
    head_hidden: PositiveInt = 256
    dropout: Ratio = 0.5
    pool: Literal["avg", "max"] = "avg"
    pool_sizes: Annotated[list[PositiveInt], Field(min_length=1)] = Field(
        default_factory=lambda: [1, 3, 5, 7]
    )
    # 2D segmentation: the backbone's downsampling before the head; null keeps the family's own
    # (DeepLabV3-MobileNetV3 and PSPNet-MobileNetV3 16, DeepLabV3-ResNet-50 8, PSPNet-ResNet-18 32)
    output_stride: Literal[8, 16, 32] | None = None
    atrous_rates: Annotated[list[PositiveInt], Field(min_length=1)] = Field(
        default_factory=lambda: [12, 24, 36]
    )
    # unet2d/unet3d: in training the decoder also answers at every coarser level but the lowest,
    # each scored against the mask downsampled, weights halving per level (nnU-Net's default)
    deep_supervision: bool = False
    # unet2d/unet3d: the downsampling, one [stride per axis] per level, e.g. [[1,2,2],[2,2,2],...]
    # as `medimg plan` plans it (a thick-slice axis pooled fewer times); null: 4 levels of 2
    pool_strides: list[Annotated[list[Literal[1, 2]], Field(min_length=2, max_length=3)]] | None = (
        None
    )
    # unet2d/unet3d: the conv kernel per axis of each stage (pool_strides levels + 1), 1 on an axis
    # still too coarse to look across, as `medimg plan` plans it; null: 3 everywhere
    conv_kernels: list[Annotated[list[Literal[1, 3]], Field(min_length=2, max_length=3)]] | None = (
        None
    )
    max_features: PositiveInt = 320  # unet2d/unet3d: features double per stage up to this (nnU-Net)
    init: str = "none"  # none | imagenet | path to an earlier medimg checkpoint
    allow_random_init: bool = (
        False  # imagenet weights not cached: carry on with random ones instead of failing
    )

    @model_validator(mode="after")
    def _pretrained_exists(self) -> ModelParams:
        if self.init == "imagenet" and CATALOG[self.name].pretrained is None:
            raise ValueError(
                f"init: imagenet, but {self.name} has no published pretrained weights "
                "(use none, or the path to an earlier medimg checkpoint)"
            )
        return self

    @model_validator(mode="after")
    def _deep_supervision_fits(self) -> ModelParams:
        if self.deep_supervision and not self.name.startswith("unet"):
            raise ValueError(
                f"deep_supervision applies to the U-Nets (unet2d, unet3d), not {self.name}"
            )
        return self

    @model_validator(mode="after")
    def _pool_strides_fit(self) -> ModelParams:
        if self.pool_strides is None:
            return self
        if not self.name.startswith("unet"):
            raise ValueError(
                f"pool_strides applies to the U-Nets (unet2d, unet3d), not {self.name}"
            )
        ndim = CATALOG[self.name].ndim
        if not 1 <= len(self.pool_strides) <= 6 or any(len(s) != ndim for s in self.pool_strides):
            raise ValueError(
                f"pool_strides: 1 to 6 levels of {ndim} strides each (1 or 2) for {self.name}, "
                f"got {self.pool_strides}"
            )
        return self

    @model_validator(mode="after")
    def _output_stride_fits(self) -> ModelParams:
        if self.output_stride is None:
            return self
        native = NATIVE_OUTPUT_STRIDE.get(self.name)
        if native is None:
            raise ValueError(
                f"output_stride applies to the 2D segmentation models "
                f"{sorted(NATIVE_OUTPUT_STRIDE)}, not {self.name} (use null)"
            )
        if self.output_stride > native:
            raise ValueError(
                f"output_stride: {self.name} downsamples by {native}; it can be made finer "
                f"(smaller), not coarser than that"
            )
        return self


class EarlyStopping(Section):
    metric: Literal["auc", "kappa", "accuracy", "loss", "dice"] = "auc"
    patience: PositiveInt = 5
    # weight of the running average in an exponential moving average of the metric: the best epoch
    # and the patience follow the average (nnU-Net: 0.9 on its pseudo-Dice), not one noisy epoch;
    # 0 follows the raw metric
    ema: Annotated[float, Field(ge=0, lt=1)] = 0.0


class StageParams(Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    epochs: PositiveInt
    trainable: str = (
        "all"  # head | all | a backbone group: train it, the groups after it, and the head
    )
    lr_head: PositiveFloat = 1e-3
    lr_backbone: PositiveFloat | None = (
        None  # the group next to the head; earlier ones × layer_decay per step
    )
    layer_decay: Annotated[float, Field(gt=0, le=1)] = 1.0
    lr_groups: dict[str, PositiveFloat] = Field(
        default_factory=dict
    )  # explicit per-group table; wins
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9  # sgd only (Nesterov)
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    schedule: Literal["cosine", "poly", "plateau", "constant"] = (
        "cosine"  # poly: nnU-Net's (1 - t)^0.9
    )
    warmup_epochs: NonNegInt = 0
    plateau_factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    plateau_patience: NonNegInt = 2
    early_stopping: EarlyStopping = EarlyStopping()

    @model_validator(mode="after")
    def _consistent(self) -> StageParams:
        if self.schedule == "plateau" and self.warmup_epochs:
            raise ValueError("warmup_epochs works with schedule cosine or constant, not plateau")
        return self


class MixParams(Section):
    """MixUp (Zhang et al. 2018) / CutMix (Yun et al. 2019) of training batches; classification only."""

    method: Literal["none", "mixup", "cutmix"] = "none"
    alpha: PositiveFloat = 0.4  # Beta(alpha, alpha) mixing weights
    probability: Ratio = 1.0  # share of batches mixed


class TrainParams(Section):
    seed: int = 0
    batch_size: PositiveInt | None = 8  # null: the plan's (`plan: auto`)
    accumulate_batches: PositiveInt = (
        1  # optimizer step every N batches: effective batch N × batch_size
    )
    # auto: none on CPU (its cores do the training), else min(8, cores - 1) processes feeding the GPU
    num_workers: NonNegInt | Literal["auto"] = "auto"
    sampler: Literal["shuffle", "weighted"] = "shuffle"  # weighted: draw classes equally often
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp16", "fp32"] = (
        "auto"  # auto: bf16 on CUDA if supported, else fp16; fp32 on CPU
    )
    channels_last: bool = True  # CUDA only: faster convolutions on tensor cores
    compile: bool = False  # torch.compile the model (CUDA; minutes of warm-up, faster epochs)
    deterministic: bool = True
    grad_clip: Annotated[float, Field(ge=0)] = 1.0  # max gradient norm; 0 turns clipping off
    bn_recompute_batches: NonNegInt = (
        16  # exact BatchNorm statistics from this many batches before validation
    )
    mix: MixParams = MixParams()
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
        raise ParamsError(
            f"train.stages: no stage named {name!r} (have {[s.name for s in self.stages]})"
        )


class SliceSampling(Section):
    """How a 2D segmentation model trains on 3D volumes: one item per axial slice."""

    select: Literal["all", "foreground"] = (
        "all"  # foreground: slices through the mask plus some empty ones
    )
    empty_fraction: Ratio = 0.1  # foreground: share of the empty slices drawn afresh each epoch


class PatchSampling(Section):
    """How a 3D segmentation model trains on patches; inference then slides the patch over the volume."""

    size: Annotated[list[PositiveInt], Field(min_length=3, max_length=3)] | None = (
        None  # z, y, x; null: whole volume
    )
    foreground_ratio: Ratio = 0.5  # share of patches centred on a foreground voxel (nnU-Net: 0.33)
    per_volume: PositiveInt = 2  # patches drawn from each volume per epoch
    # or a fixed number of batches per epoch, volumes drawn at random (nnU-Net: 250); under
    # `plan: auto` the plan sets it so that a fold fits plan.cpu_minutes_per_fold on a CPU
    batches_per_epoch: PositiveInt | None = None
    overlap: Annotated[float, Field(ge=0, lt=1)] = 0.5  # sliding-window overlap at inference


class SamplingParams(Section):
    slices: SliceSampling = SliceSampling()
    patches: PatchSampling = PatchSampling()


class LossParams(Section):
    name: Literal["cross_entropy", "focal", "asymmetric", "dice", "bce_dice", "ce_dice"] = (
        "cross_entropy"
    )
    focal_gamma: Annotated[float, Field(ge=0, le=5)] = 2.0
    asymmetric_gamma_pos: Annotated[float, Field(ge=0, le=5)] = 0.0  # Ridnik et al. 2021
    asymmetric_gamma_neg: Annotated[float, Field(ge=0, le=10)] = 4.0
    asymmetric_clip: Annotated[float, Field(ge=0, lt=1)] = 0.05
    dice_include_background: bool = False
    class_weights: Literal["none", "inverse", "effective"] = "inverse"  # effective: Cui et al. 2019
    effective_beta: Annotated[float, Field(ge=0, lt=1)] = 0.999


def check_training(model: ModelParams, train: TrainParams, loss: LossParams) -> list[str]:
    """Problems, each with its key path, of the training sections taken together."""
    info = CATALOG[model.name]
    classify = info.task == "classification"
    metrics, losses = (
        (CLASSIFICATION_METRICS, CLASSIFICATION_LOSSES)
        if classify
        else (SEGMENTATION_METRICS, SEGMENTATION_LOSSES)
    )
    problems = []
    if loss.name not in losses:
        problems.append(
            f"loss.name: {loss.name} does not fit {model.name} ({info.task}); use one of {list(losses)}"
        )
    if not classify and train.mix.method != "none":
        problems.append(
            f"train.mix.method: {train.mix.method} mixes class labels; {model.name} segments"
        )
    if not classify and train.sampler == "weighted":
        problems.append(
            "train.sampler: weighted draws by class label; segmentation items have masks instead"
        )
    groups = ("head", "all", *info.groups)
    for i, stage in enumerate(train.stages):
        key = f"train.stages[{i}]"
        if stage.early_stopping.metric not in metrics:
            problems.append(
                f"{key}.early_stopping.metric: {stage.early_stopping.metric} does not fit "
                f"{model.name} ({info.task}); use one of {list(metrics)}"
            )
        if stage.trainable not in groups:
            problems.append(
                f"{key}.trainable: {stage.trainable!r} is not head, all or a group of {model.name} "
                f"{list(info.groups)}"
            )
            continue
        unknown = sorted(set(stage.lr_groups) - set(info.groups))
        if unknown:
            problems.append(
                f"{key}.lr_groups: {unknown} are not groups of {model.name} {list(info.groups)}"
            )
        trained = trained_groups(info.groups, stage.trainable)
        unpriced = [g for g in trained if g not in stage.lr_groups]
        if unpriced and stage.lr_backbone is None:
            problems.append(
                f"{key}: trainable {stage.trainable!r} trains {unpriced} but neither lr_backbone "
                "nor lr_groups gives them a learning rate"
            )
    return problems


def trained_groups(groups: tuple[str, ...] | list[str], trainable: str) -> list[str]:
    """The backbone groups a stage trains: none (head), all, or from the named group on."""
    if trainable == "head":
        return []
    if trainable == "all":
        return list(groups)
    return list(groups[list(groups).index(trainable) :])
