"""CPU latency of every exported variant beside torch eager, per model family, at batch 1 and 8.

    .venv/bin/python bench/export.py                      # the issue's three models on 2 threads
    .venv/bin/python bench/export.py --models resnet18 --threads 0

Columns: torch eager; onnxruntime fp32; onnxruntime INT8 as the export step writes it (static QDQ
in the export.int8_target format, 3D convolutions kept fp32 because onnxruntime's INT8 3D kernels
are slower than its fp32 ones); onnxruntime INT8 with every convolution quantized (that slow case);
OpenVINO fp32; OpenVINO INT8 (NNCF, every convolution, 3D included). Speed-ups are against torch.
Random weights (latency does not depend on them); INT8 calibrated on 8 random inputs. Median of 20
runs after 3 warm-up runs, as the export step reports. Prints the CPU it ran on.
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

from medimg.config.catalog import CATALOG  # noqa: E402
from medimg.config.schema import ModelParams  # noqa: E402
from medimg.deploy.cpu import cpu_description  # noqa: E402
from medimg.deploy.runners import onnxruntime_runner, openvino_runner  # noqa: E402
from medimg.export.onnx_model import export_onnx, median_latency_ms  # noqa: E402
from medimg.export.openvino_model import convert_openvino, quantize_openvino_int8  # noqa: E402
from medimg.export.quantization import quantize_int8_static  # noqa: E402
from medimg.models import build_model  # noqa: E402

# model → (input channels, spatial size, width): the sizes the presets train at
SETUPS = {
    "resnet18": (3, (224, 224), 64),
    "resnet3d_18": (1, (48, 48, 48), 16),
    "unet3d": (1, (32, 32, 32), 8),  # ct-seg-3d's patch: sliding-window inference runs this
}
COLUMNS = ("torch", "ort fp32", "ort int8", "ort int8*", "ov fp32", "ov int8")


def variants(name: str, folder: Path, threads: int, target: str) -> tuple:
    channels, size, width = SETUPS.get(name, (1, (48,) * CATALOG[name].ndim, 16))
    model = build_model(
        ModelParams(name=name, in_channels=channels, width=width, head_hidden=128)
    ).eval()
    samples = torch.rand(8, channels, *size)
    fp32 = export_onnx(model, samples[:1], folder / f"{name}.onnx", 18)
    items = list(samples.numpy())
    written, _ = quantize_int8_static(
        fp32, folder / f"{name}.int8.onnx", "input", iter(items), cpu=target
    )
    every, _ = quantize_int8_static(
        fp32, folder / f"{name}.int8-all.onnx", "input", iter(items), conv3d=True, cpu=target
    )
    ov32 = convert_openvino(fp32, folder / f"{name}.xml")
    ov8 = quantize_openvino_int8(fp32, folder / f"{name}-int8.xml", items, target)
    runners = [onnxruntime_runner(p, threads) for p in (fp32, written, every)]
    runners += [openvino_runner(p, threads) for p in (ov32, ov8)]
    return model, samples, runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(SETUPS), choices=sorted(CATALOG))
    parser.add_argument("--threads", type=int, default=2, help="0: each runtime's default")
    parser.add_argument("--int8-target", default="avx2", choices=["avx2", "vnni", "arm64"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = cpu_description()
    print(
        f"CPU: {cpu['model']} ({cpu['cpu_class']}; {' '.join(cpu['flags'])}), {args.threads} threads"
    )
    print(f"INT8 format: {args.int8_target}; ms, median of 20; (x): speed-up over torch eager")
    print(f"{'model':<14} {'batch':>5} " + " ".join(f"{c:>15}" for c in COLUMNS))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model, samples, runners = variants(name, Path(tmp), args.threads, args.int8_target)
            for batch in (1, 8):
                x = samples[:batch]
                with torch.no_grad():
                    times = [median_latency_ms(lambda: model(x))]
                times += [median_latency_ms(lambda: run(x.numpy())) for run in runners]
                cells = [f"{t:8.1f} ({times[0] / t:4.1f}x)" for t in times]
                print(f"{name:<14} {batch:>5} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
