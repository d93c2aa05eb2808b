"""Every registered model exports to ONNX with a dynamic batch, matches torch in onnxruntime, and
its INT8 and FP16 variants load and run."""

import numpy as np
import onnx
import pytest
import torch

from medimg.config.catalog import CATALOG
from medimg.config.schema import ModelParams
from medimg.deploy.runners import onnxruntime_runner
from medimg.export.onnx_model import check_parity, dynamic_axes, export_onnx, ort_session
from medimg.export.quantization import convert_fp16, quantize_int8_dynamic, quantize_int8_static
from medimg.models import build_model

pytestmark = pytest.mark.slow  # see tests/conftest.py: left out of the fast loop


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_export_keeps_parity_with_a_dynamic_batch(name, tmp_path):
    info = CATALOG[name]
    torch.manual_seed(0)
    model = build_model(ModelParams(name=name, width=4, head_hidden=8, pool_sizes=[1, 2])).eval()
    shape = (1, 32, 32, 32) if info.ndim == 3 else (1, 64, 64)
    batch = torch.rand(3, *shape)
    path = export_onnx(model, batch[:1], tmp_path / "model.onnx", 18)
    axes = dynamic_axes(path)
    assert 0 in axes
    result = check_parity(
        model, onnxruntime_runner(path), batch, 1e-4
    )  # 3 samples through a graph traced with 1
    assert result["same_predictions"] and result["max_abs_diff"] <= 1e-4
    if len(axes) > 1:  # dynamic spatial axes must really work, and match torch at the other size
        other = torch.rand(2, 1, *(n + 16 for n in shape[1:]))
        assert check_parity(model, onnxruntime_runner(path), other, 1e-4)["same_predictions"]


@pytest.mark.parametrize("name", ["resnet18", "resnet3d_18", "unet2d"])
def test_quantized_and_half_precision_variants_run_close_to_fp32(name, tmp_path):
    info = CATALOG[name]
    torch.manual_seed(0)
    model = build_model(ModelParams(name=name, width=8, head_hidden=16)).eval()
    shape = (1, 32, 32, 32) if info.ndim == 3 else (1, 64, 64)
    samples = torch.rand(6, *shape)
    fp32 = export_onnx(model, samples[:1], tmp_path / "model.onnx", 18)
    static, kept = quantize_int8_static(
        fp32, tmp_path / "int8.onnx", "input", iter(list(samples.numpy())), conv3d=True
    )
    assert kept == []
    variants = [
        static,
        quantize_int8_dynamic(fp32, tmp_path / "dyn.onnx", op_types=None, conv3d=True),
        convert_fp16(fp32, tmp_path / "fp16.onnx"),
    ]
    expected = ort_session(fp32).run(None, {"input": samples.numpy()})[0]
    for path in variants:
        assert path.stat().st_size < fp32.stat().st_size, path.name
        got = ort_session(path).run(None, {"input": samples.numpy()})[0]
        assert got.shape == expected.shape and np.isfinite(got).all()
        assert np.abs(got - expected).max() < 0.25 * (np.abs(expected).max() + 1e-3), path.name
    graph = onnx.load(str(variants[0])).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)  # QDQ form


@pytest.mark.parametrize("name, quantized", [("resnet18", True), ("unet2d", False)])
def test_the_export_default_quantizes_only_matrix_products_dynamically(name, quantized, tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelParams(name=name, width=8, head_hidden=16)).eval()
    samples = torch.rand(3, 1, 64, 64)
    fp32 = export_onnx(model, samples[:1], tmp_path / "model.onnx", 18)
    path = quantize_int8_dynamic(fp32, tmp_path / "dyn.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "ConvInteger" not in ops and ("Conv" in ops)
    assert ("MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops) == quantized, ops
    got = ort_session(path).run(None, {"input": samples.numpy()})[0]
    expected = ort_session(fp32).run(None, {"input": samples.numpy()})[0]
    if not quantized:  # nothing to quantize: the same arithmetic
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_3d_convolutions_stay_fp32_unless_asked(tmp_path):
    model = build_model(ModelParams(name="resnet3d_18", width=4, head_hidden=8)).eval()
    samples = torch.rand(4, 1, 32, 32, 32)
    fp32 = export_onnx(model, samples[:1], tmp_path / "model.onnx", 18)
    path, kept = quantize_int8_static(
        fp32, tmp_path / "int8.onnx", "input", iter(list(samples.numpy()))
    )
    assert len(kept) == sum(1 for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "QuantizeLinear" in ops  # the head's matrix products are INT8
