"""CPU latency of torch eager vs onnxruntime fp32 / INT8 (static QDQ, dynamic) per model family.

    .venv/bin/python bench/export.py                          # the default families at the demo's sizes
    .venv/bin/python bench/export.py --models resnet18 --threads 2

Random weights (latency does not depend on them); INT8 static is calibrated on 8 random inputs.
"int8 st" and "int8 dyn" quantize every convolution; "int8 exp" is the export step's static default,
which keeps 3D convolutions in fp32 because onnxruntime's INT8 3D kernels are the slow ones. (The
export step's dynamic variant quantizes matrix products only, because "int8 dyn" is the slow one.)
Median of 20 runs after 3 warm-up runs, batch 1 and 8, as the export step reports.
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
from medimg.export.onnx_model import export_onnx, median_latency_ms, ort_session  # noqa: E402
from medimg.export.quantization import quantize_int8_dynamic, quantize_int8_static  # noqa: E402
from medimg.models import build_model  # noqa: E402

SIZES = {
    ("classification", 2): (3, (224, 224)),
    ("classification", 3): (1, (48, 48, 48)),
    ("segmentation", 2): (1, (128, 128)),
    ("segmentation", 3): (1, (48, 48, 48)),
}
DEFAULT = [
    "resnet18",
    "mobilenet_v3_large",
    "resnet3d_18",
    "deeplabv3_mobilenet_v3_large",
    "unet2d",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT, choices=sorted(CATALOG))
    parser.add_argument("--threads", type=int, default=0, help="0: runtime default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{'model':<30} {'batch':>5} {'torch':>9} {'ort fp32':>9} {'int8 st':>9} {'int8 dyn':>9} "
        f"{'int8 exp':>9}  (ms; int8 exp: what the export step writes, 3D convs kept fp32)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            info = CATALOG[name]
            channels, size = SIZES[(info.task, info.ndim)]
            model = build_model(
                ModelParams(name=name, in_channels=channels, width=16, head_hidden=128)
            ).eval()
            samples = torch.rand(8, channels, *size)
            fp32 = export_onnx(model, samples[:1], Path(tmp) / f"{name}.onnx", 18)
            static, _ = quantize_int8_static(
                fp32,
                Path(tmp) / f"{name}.int8.onnx",
                "input",
                iter(list(samples.numpy())),
                conv3d=True,
            )
            dynamic = quantize_int8_dynamic(
                fp32, Path(tmp) / f"{name}.dyn.onnx", op_types=None, conv3d=True
            )
            default, _ = quantize_int8_static(
                fp32, Path(tmp) / f"{name}.int8-default.onnx", "input", iter(list(samples.numpy()))
            )
            sessions = [ort_session(p, args.threads) for p in (fp32, static, dynamic, default)]
            for batch in (1, 8):
                x = samples[:batch]
                with torch.no_grad():
                    times = [median_latency_ms(lambda: model(x))]
                times += [
                    median_latency_ms(lambda: s.run(None, {"input": x.numpy()})) for s in sessions
                ]
                print(f"{name:<30} {batch:>5} " + " ".join(f"{t:>9.1f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
