"""Training throughput of every model family at the demo's input sizes: samples per second.

    .venv/bin/python bench/train.py                       # CPU (or the GPU when there is one), default precision
    .venv/bin/python bench/train.py --precision fp32      # full precision, to compare with bf16/fp16 on a GPU
    .venv/bin/python bench/train.py --models resnet18 unet3d --batches 20

Each model runs the real training loop (medimg.train.loop.StageRun: every layer trainable,
AdamW, the stage's precision, channels_last on CUDA) over synthetic tensors held in memory, so
the figure is the model's own speed, not the loader's (bench/loader.py measures that). The first
epoch warms up (cuDNN autotuning, allocator); the second is the one reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from medimg.config.catalog import CATALOG  # noqa: E402
from medimg.config.schema import LossParams, ModelParams, StageParams, TrainParams  # noqa: E402
from medimg.models import build_model  # noqa: E402
from medimg.train.datasets import make_loader  # noqa: E402
from medimg.train.device import pick_device  # noqa: E402
from medimg.train.loop import StageRun, seed_everything  # noqa: E402
from medimg.train.optim import apply_trainable  # noqa: E402

# the demo's sizes: fundus photos 224², CT volumes 48³ (params.yaml), axial CT slices 128²
SIZES = {
    ("classification", 2): (3, (224, 224)),
    ("classification", 3): (1, (48, 48, 48)),
    ("segmentation", 2): (1, (128, 128)),
    ("segmentation", 3): (1, (48, 48, 48)),
}
BATCH = {2: 16, 3: 8}
FAMILIES = [
    "resnet18",
    "resnet50",
    "efficientnet_b0",
    "densenet121",
    "mobilenet_v3_large",
    "resnet3d_18",
    "resnet3d_50",
    "r3d_18",
    "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50",
    "pspnet_resnet18",
    "unet2d",
    "unet3d",
]


class RandomItems(Dataset):
    def __init__(self, count: int, channels: int, size: tuple[int, ...], task: str) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(count, channels, *size, generator=g)
        self.targets = (
            torch.randint(0, 2, (count, *size), generator=g)
            if task == "segmentation"
            else torch.randint(0, 2, (count,), generator=g)
        )
        self.labels = self.targets if task == "classification" else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.targets[i]


def throughput(
    name: str,
    batches: int,
    precision: str,
    device_choice: str,
    folder: Path,
    batch_scale: int = 1,
    compile_model: bool = False,
) -> tuple[float, float | None]:
    info = CATALOG[name]
    channels, size = SIZES[(info.task, info.ndim)]
    batch = BATCH[info.ndim] * batch_scale
    seed_everything(0, deterministic=False)
    model = build_model(ModelParams(name=name, in_channels=channels, width=16, head_hidden=128))
    stage = StageParams(
        name="bench",
        epochs=2,
        trainable="all",
        lr_backbone=1e-4,
        early_stopping={
            "metric": "auc" if info.task == "classification" else "dice",
            "patience": 5,
        },
    )
    apply_trainable(model, stage)
    train = TrainParams(
        batch_size=batch,
        precision=precision,
        deterministic=False,
        compile=compile_model,
        stages=[stage],
    )
    items = RandomItems(batch * batches, channels, size, info.task)
    run = StageRun(
        model=model,
        stage=stage,
        train_params=train,
        task=info.task,
        train_loader=make_loader(items, batch, 0, 0, True),
        val_loader=make_loader(RandomItems(2, channels, size, info.task), 2, 0, 0, False),
        device=pick_device(device_choice),
        stage_dir=folder / name,
        seed=0,
        args={},
        loss=LossParams(name="cross_entropy" if info.task == "classification" else "ce_dice"),
    )
    (folder / name).mkdir()
    run.run()
    last = run.history[-1]
    return last["samples_per_second"], last["peak_gpu_memory_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=FAMILIES, choices=sorted(CATALOG))
    parser.add_argument(
        "--batches", type=int, default=4, help="batches per timed epoch (default 4)"
    )
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--batch-scale",
        type=int,
        default=1,
        help="multiply the demo's batch sizes (2D 16, 3D 8); a GPU wants larger batches",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model (train.compile)"
    )
    args = parser.parse_args()
    device = pick_device(args.device)
    label = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(
        f"training throughput on {label}, precision {args.precision}, {args.batches} batches per epoch"
        + (", torch.compile" if args.compile else "")
    )
    print(
        f"{'model':<30} {'task':<15} {'input':<18} {'batch':>5} {'samples/s':>10} {'peak MiB':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            info = CATALOG[name]
            channels, size = SIZES[(info.task, info.ndim)]
            rate, memory = throughput(
                name,
                args.batches,
                args.precision,
                args.device,
                Path(tmp),
                args.batch_scale,
                args.compile,
            )
            shape = f"{channels}x" + "x".join(map(str, size))
            memory_text = f"{memory:>9.0f}" if memory is not None else f"{'-':>9}"
            print(
                f"{name:<30} {info.task:<15} {shape:<18} {BATCH[info.ndim] * args.batch_scale:>5} {rate:>10.1f} "
                f"{memory_text}",
                flush=True,
            )


if __name__ == "__main__":
    main()
