"""INT8 formats per CPU target: the AVX2-safe format keeps a model whose 8-bit products saturate a
16-bit lane on AVX2-only CPUs (the U8S8 case onnxruntime's docs warn about) close to fp32 on every
CPU; the full 8-bit format does so only where VNNI or ARM dot products accumulate in 32 bits."""

import numpy as np
import pytest
import torch

from medimg.config.schema import ExportParams
from medimg.deploy.cpu import INT8_TARGETS, SAFE_ON, cpu_class, int8_warning, resolve_int8_target
from medimg.export.onnx_model import export_onnx, ort_session
from medimg.export.quantization import REDUCED_RANGE, quantize_int8_dynamic, quantize_int8_static


class Pointwise(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Conv2d(64, 4, 1)

    def forward(self, x):
        return self.layer(x)


def saturating_model(tmp_path):
    """A layer whose every weight is the channel's largest and every input the calibrated maximum:
    each pair of products is 255 × 127 × 2 = 64770 under full-range U8S8, twice what a 16-bit
    lane holds, so VPMADDUBSW (AVX2 without VNNI) would return about half the true sum."""
    model = Pointwise()
    with torch.no_grad():
        model.layer.weight.fill_(1.0)
        model.layer.bias.zero_()
    ones = torch.ones(2, 64, 4, 4)
    return export_onnx(model.eval(), ones, tmp_path / "model.onnx", 18), ones.numpy()


def relative_error(path, x) -> float:
    got = ort_session(path).run(None, {"input": x})[0]
    return float(np.abs(got - 64.0).max() / 64.0)


def integer_ops(path, tmp_path) -> set[str]:
    """The integer kernels onnxruntime actually runs once it has fused the QDQ graph."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node}
    return ops & {"QLinearConv", "ConvInteger", "QGemm", "MatMulInteger", "QLinearMatMul"}


def test_the_avx2_format_is_close_to_fp32_on_this_cpu_whatever_it_is(tmp_path):
    fp32, x = saturating_model(tmp_path)
    static, _ = quantize_int8_static(fp32, tmp_path / "s.onnx", "input", iter([x[0]]), cpu="avx2")
    dynamic = quantize_int8_dynamic(fp32, tmp_path / "d.onnx", op_types=None, cpu="avx2")
    assert integer_ops(static, tmp_path) and integer_ops(dynamic, tmp_path)  # real INT8 kernels
    assert relative_error(fp32, x) < 1e-6
    assert relative_error(static, x) < 0.02, cpu_class()
    assert relative_error(dynamic, x) < 0.02, cpu_class()


def test_the_full_range_format_saturates_exactly_where_its_target_says(tmp_path):
    fp32, x = saturating_model(tmp_path)
    static, _ = quantize_int8_static(fp32, tmp_path / "s.onnx", "input", iter([x[0]]), cpu="vnni")
    assert integer_ops(static, tmp_path)
    error = relative_error(static, x)
    if cpu_class() in SAFE_ON["vnni"]:
        assert error < 0.02  # 32-bit accumulation: the full 8 bits are safe here
    else:  # AVX2 without VNNI: the case the avx2 target exists for
        assert error > 0.2, f"expected U8S8 saturation on this {cpu_class()} CPU, got {error:.3f}"


def test_the_params_offer_exactly_the_targets_the_cpu_module_knows():
    field = ExportParams.model_fields["int8_target"]
    assert set(field.annotation.__args__) == set(INT8_TARGETS)
    assert set(REDUCED_RANGE) == set(SAFE_ON)  # every target has a format
    assert ExportParams().int8_target == "avx2"  # safe on the CPUs users have by default


@pytest.mark.parametrize(
    "flags, machine, expected",
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "vnni"),
        ({"avx2", "avx_vnni"}, "x86_64", "vnni"),
        ({"avx2", "fma"}, "x86_64", "avx2"),
        ({"sse4_2"}, "x86_64", "other"),
        ({"asimddp"}, "aarch64", "arm64"),
    ],
)
def test_cpu_class_reads_the_flags_that_decide_int8_arithmetic(flags, machine, expected):
    assert cpu_class(flags, machine) == expected


def test_auto_takes_this_machines_class_and_predict_warns_off_the_validated_class():
    assert resolve_int8_target("auto", "vnni") == "vnni"
    assert resolve_int8_target("auto", "other") == "avx2"
    assert resolve_int8_target("arm64", "avx2") == "arm64"
    assert int8_warning("avx2", "vnni", "vnni") is None
    assert "saturate" in int8_warning("vnni", "vnni", "avx2")
    assert "not checked" in int8_warning("avx2", "vnni", "avx2")
