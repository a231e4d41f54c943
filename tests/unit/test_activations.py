"""Sigmoid, hard sigmoid, hard swish, SiLU and products: float semantics, INT8 (a 256-entry
table for the functions, a rounding shift for products), fused or standalone on the array
(bit for bit), and from both ONNX exporters."""

import warnings

import numpy as np
import pytest
from calibrated import compile_calibrated

from bsir import quant
from bsir.dialects import tg
from bsir.driver.compile import CompileOptions
from bsir.executor import run_module
from bsir.models.builder import GraphBuilder
from bsir.weights import materialize


def activations_net():
    """Each function once: fused after a convolution, after an addition, and standalone
    after a concatenation."""
    b = GraphBuilder("activations", (1, 10, 10, 8))
    x = b.append(tg.HardSwishOp(b.conv(b.input, 16, 3, "c1", pad=1)))
    y = b.append(tg.SigmoidOp(b.conv(x, 16, 1, "c2")))
    z = b.append(tg.SiluOp(b.add(x, y)))
    z = b.append(tg.HardSigmoidOp(b.concat([z, x]), 1 / 6, 0.5))
    built = b.finish(b.linear(b.flatten(b.global_avgpool(z)), 10, "fc"))
    return built, materialize(built.specs, 0)


@pytest.mark.parametrize("op_type", tg.TABLE_OPS)
def test_the_table_is_the_quantized_function(op_type):
    """Entry q is the function of q's real value, quantized at the output fix."""
    x = GraphBuilder("one", (1, 2, 2, 4)).input
    op = op_type(x)
    table = quant.lookup_table(op.function, 4, 6)
    codes = np.arange(-128, 128)
    expected = quant.quantize(op.function(codes / 16.0), 6)
    assert table.dtype == np.int8 and table.shape == (256,)
    assert np.array_equal(table, expected)
    assert np.array_equal(quant.apply_table(table, codes.astype(np.int8)), expected)


def test_float_semantics():
    x = np.linspace(-8, 8, 33)
    ops = {t.name: t(GraphBuilder("one", (1, 33)).input) for t in tg.TABLE_OPS}
    sigmoid = 1 / (1 + np.exp(-x))
    assert np.allclose(ops["tg.sigmoid"].function(x), sigmoid)
    assert np.allclose(ops["tg.silu"].function(x), x * sigmoid)
    assert np.allclose(ops["tg.hardswish"].function(x), x * np.clip(x + 3, 0, 6) / 6)
    assert np.allclose(ops["tg.hardsigmoid"].function(x), np.clip(0.2 * x + 0.5, 0, 1))


@pytest.mark.parametrize("grid", ["2x2", "3x5"])
def test_fused_and_standalone_run_bit_for_bit_on_the_array(grid):
    built, arrays = activations_net()
    result, x = compile_calibrated(built, arrays, grid, (1, 10, 10, 8))
    # three of the four are fused into the layer before them; the one after the
    # concatenation is a layer of its own
    assert [layer.op for layer in result.layers].count("tg.hardsigmoid") == 1
    assert result.verify([x]).layers == len(result.layers)
    reference = run_module(built.module, arrays, [x])[0]
    from bsir.driver.compile import quantize_module

    module = built.module.clone()
    int8_weights = quantize_module(module, arrays, CompileOptions(calibration=(x,)))
    y = run_module(module, int8_weights, [x])[0]
    assert np.abs(y - reference).max() <= 0.1 * np.abs(reference).max()


@pytest.mark.parametrize("dynamo", [False, True])
def test_both_torch_exporters_import_and_match_onnxruntime(tmp_path, dynamo):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from torch import nn

    from bsir.onnx_import import import_onnx

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Hardswish(), nn.Conv2d(8, 8, 1),
                        nn.SiLU(), nn.Conv2d(8, 8, 1), nn.Hardsigmoid(), nn.Conv2d(8, 8, 1),
                        nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 4)).eval()
    x = torch.randn(1, 3, 12, 12)
    path = str(tmp_path / "acts.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=dynamo, opset_version=18 if dynamo else 17)
    module, arrays = import_onnx(path)
    kinds = [op.name for op in module.walk() if isinstance(op, tg.TABLE_OPS)]
    assert kinds == ["tg.hardswish", "tg.silu", "tg.hardsigmoid", "tg.sigmoid"]
    name = onnx.load(path).graph.input[0].name
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {name: x.numpy()})[0]
    got = run_module(module, arrays, [x.numpy().transpose(0, 2, 3, 1)])[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_export_runs_in_onnxruntime_and_imports_back(tmp_path):
    pytest.importorskip("onnxruntime")
    from onnx_models import assert_export_round_trip

    built, arrays = activations_net()
    assert_export_round_trip(built.module, arrays, str(tmp_path / "acts.onnx"))


def test_a_product_bsir_cannot_broadcast_names_the_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from bsir.diagnostics import BsirError
    from bsir.onnx_import import import_onnx
    from onnx_models import OnnxGraph

    g = OnnxGraph("mul", [1, 2, 4, 4])
    row = g.node("ReduceMean", ["input"], axes=[1], keepdims=1)
    out = g.node("Mul", ["input", row])  # broadcast over channels: not a gate
    path = tmp_path / "m.onnx"
    onnx.save(g.model([(out, [1, 2, 4, 4])]), str(path))
    with pytest.raises(BsirError, match=r"ONNX node '\w+' \((ReduceMean|Mul)\)"):
        import_onnx(str(path))


def se_net():
    """A squeeze-and-excitation block (a tensor times a per-channel sigmoid gate), then a
    product of two tensors of one shape."""
    b = GraphBuilder("se", (1, 12, 12, 8))
    x = b.relu(b.conv(b.input, 16, 3, "c1", pad=1))
    gate = b.relu(b.conv(b.global_avgpool(x), 4, 1, "se1"))
    gate = b.append(tg.SigmoidOp(b.conv(gate, 16, 1, "se2")))
    gated = b.append(tg.SubOp(b.append(tg.MulOp(x, gate)), gate))  # minus a per-channel value
    y = b.conv(b.append(tg.SubOp(gated, x)), 16, 1, "c2")  # minus a tensor of its shape
    square = b.append(tg.MulOp(y, y))  # two tensors of one shape
    built = b.finish(b.linear(b.flatten(b.global_avgpool(square)), 10, "fc"))
    return built, materialize(built.specs, 0)


@pytest.mark.parametrize("grid", ["2x2", "3x5", "8x8"])
def test_a_gated_product_runs_bit_for_bit_on_the_array(grid):
    result, x = compile_calibrated(*se_net(), grid, (1, 12, 12, 8))
    kinds = [layer.op for layer in result.layers]
    assert kinds.count("tg.mul") == 2 and kinds.count("tg.sub") == 2
    assert result.verify([x]).layers == len(result.layers)


def test_mul_int8_is_the_rounded_product():
    from bsir import layers

    a = np.array([[[[100, -7]]]], np.int8)
    gate = np.array([[[[64, 127]]]], np.int8)  # 0.5 and ~0.99 at fix 7
    got = layers.mul_int8(a, gate, 3, 7, 3)
    expected = quant.quantize(quant.dequantize(a, 3) * quant.dequantize(gate, 7), 3)
    assert np.array_equal(got, expected)


def test_sub_int8_is_the_rounded_difference():
    from bsir import layers

    a = np.array([[[[100, -128]]]], np.int8)
    b = np.array([[[[-128, 127]]]], np.int8)
    got = layers.sub_int8(a, b, 4, 5, 3)
    expected = quant.quantize(quant.dequantize(a, 4) - quant.dequantize(b, 5), 3)
    assert np.array_equal(got, expected)


def test_a_gated_product_exports_and_imports_back(tmp_path):
    pytest.importorskip("onnxruntime")
    from onnx_models import assert_export_round_trip

    built, arrays = se_net()
    assert_export_round_trip(built.module, arrays, str(tmp_path / "se.onnx"))
