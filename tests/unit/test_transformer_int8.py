"""INT8 transformer ops: softmax and layer norm exactly in integers (bsir.layers), the
product of two activations, tg-quantize on the built-in ViT, weights read as data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.utils.exceptions import PassFailedException

from bsir import layers, quant
from bsir.dialects import tg
from bsir.executor import Executor, random_inputs
from bsir.ir import parse_module, print_module, verify_module
from bsir.models import GraphBuilder, build_model
from bsir.passes.tg_quantize import TgQuantizePass
from bsir.weights import materialize


def _lsb_distance(int8: np.ndarray, reference: np.ndarray, fix: int) -> int:
    """How many steps of fix ``fix`` the int8 result is from the quantized reference."""
    return int(np.abs(int8.astype(np.int64) - quant.quantize(reference, fix)).max())


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), length=st.integers(1, 300), in_fix=st.integers(-2, 7),
       out_fix=st.integers(5, 9), seed=st.integers(0, 2**16))
def test_int8_softmax_is_within_one_step_of_the_quantized_softmax(rows, length, in_fix,
                                                                   out_fix, seed):
    q = np.random.default_rng(seed).integers(-128, 128, (rows, length)).astype(np.int8)
    result = layers.softmax_int8(q, in_fix, out_fix)
    assert result.dtype == np.int8 and result.shape == q.shape
    reference = layers.softmax_float(quant.dequantize(q, in_fix)).astype(np.float64)
    assert _lsb_distance(result, reference, out_fix) <= 1


def test_int8_softmax_of_equal_entries_is_one_over_their_count():
    q = np.full((2, 8), -37, np.int8)
    assert (layers.softmax_int8(q, 3, 7) == 16).all()  # 1/8 at fix 7


@settings(max_examples=60, deadline=None)
@given(tokens=st.integers(1, 5), features=st.integers(1, 400), in_fix=st.integers(-3, 8),
       w_fix=st.integers(3, 8), out_fix=st.integers(2, 7), spread=st.integers(0, 127),
       seed=st.integers(0, 2**16))
def test_int8_layer_norm_is_within_one_step_of_the_float_layer_norm(
        tokens, features, in_fix, w_fix, out_fix, spread, seed):
    rng = np.random.default_rng(seed)
    offset = rng.integers(-128 + spread, 128 - spread)  # tokens far from zero too
    q = (offset + rng.integers(-spread, spread + 1, (tokens, features))).astype(np.int8)
    weight = rng.integers(-128, 128, features).astype(np.int8)
    b_fix = 20
    bias = rng.integers(-2**20, 2**20, features).astype(np.int32)
    eps = 1e-5
    result = layers.layer_norm_int8(q, weight, bias, eps, in_fix, w_fix, b_fix, out_fix)
    reference = layers.layer_norm_float(
        quant.dequantize(q, in_fix).astype(np.float64), weight * 2.0**-w_fix,
        bias * 2.0**-b_fix, eps)
    assert _lsb_distance(result, reference.astype(np.float64), out_fix) <= 1


def _layer_norm_in_python_integers(q, weight, bias, eps, in_fix, w_fix, b_fix, out_fix):
    """The same arithmetic as bsir.layers.layer_norm_int8, one token, on unbounded ints."""
    n = len(q)
    total = sum(int(v) for v in q)
    c = [n * int(v) - total for v in q]
    t = sum(v * v for v in c) + layers.layer_norm_epsilon(eps, n, in_fix)
    r = math.isqrt((n << 2 * layers.LAYER_NORM_BITS) // max(t, 1))
    acc_fix = layers.LAYER_NORM_BITS + w_fix
    out = []
    for cj, wj, bj in zip(c, weight, bias, strict=True):
        acc = cj * r * int(wj) + int(bj) * 2 ** (acc_fix - b_fix)
        shift = acc_fix - out_fix
        out.append(max(-128, min(127, (acc + (1 << (shift - 1))) >> shift)))
    return out


@pytest.mark.parametrize("features", [2, 768, layers.LAYER_NORM_MAX_FEATURES])
def test_int8_layer_norm_does_not_overflow_at_the_extremes(features):
    """Tokens of -128s and 127s, the largest weights and biases: int64 holds every
    intermediate (checked against the same arithmetic on Python's unbounded integers);
    a bias that would not is refused."""
    q = np.where(np.arange(features) % 3 == 0, 127, -128).astype(np.int8)[None]
    weight = np.full(features, -128, np.int8)
    bias = np.full(features, 2**31 - 1, np.int32)
    args = (1e-6, 0, 7, 9, 0)  # the bias at fix 9: below 2^61 at the accumulator's fix 39
    result = layers.layer_norm_int8(q, weight, bias, *args)
    assert result[0].tolist() == _layer_norm_in_python_integers(q[0], weight, bias, *args)
    constant = np.full((1, features), 100, np.int8)  # no spread: the bias alone
    assert (layers.layer_norm_int8(constant, weight, bias, *args) == 127).all()
    with pytest.raises(OverflowError):
        layers.layer_norm_int8(q, weight, bias, 1e-6, 0, 7, 8, 0)


def _quantized_vit() -> tuple[object, dict[str, np.ndarray], list[list[np.ndarray]]]:
    built = build_model("vit_tiny")
    weights = materialize(built.specs, seed=0)
    inputs = random_inputs(built.module, seed=1, count=3)
    int8 = TgQuantizePass().quantize(built.module, weights, inputs[:2])
    return built.module, int8, inputs


def test_tg_quantize_turns_the_whole_vit_into_int8():
    module, int8, _ = _quantized_vit()
    verify_module(module)
    graph = tg.only_graph(module)
    computing = [op for op in graph.block.ops
                 if not isinstance(op, tg.WeightOp | tg.OutputOp | tg.DequantizeOp)]
    assert all(tg.tensor_shape(op.results[0]) and op.results[0].type.element_type == tg.INT8
               for op in computing)
    kinds = {op.name for op in computing if getattr(op, "quant", None) is not None}
    assert {"tg.layer_norm", "tg.softmax", "tg.batch_matmul", "tg.gelu", "tg.concat",
            "tg.add", "tg.matmul"} <= kinds
    assert int8["class_token"].dtype == np.int8  # a weight read as data
    assert int8["encoder.layers.encoder_layer_0.ln_1.bias"].dtype == np.int32
    assert print_module(parse_module(print_module(module))) == print_module(module)


def test_each_int8_transformer_op_is_its_float_op_on_the_int8_inputs():
    """Inside the quantized ViT, every layer norm, softmax and product of activations
    gives, within one step, what its float op computes on the dequantized int8 inputs."""
    module, int8, inputs = _quantized_vit()
    values: dict = {}
    Executor(module, int8).run(inputs[2], values.__setitem__)
    checked = 0
    for op in tg.only_graph(module).block.ops:
        if not isinstance(op, tg.LayerNormOp | tg.SoftmaxOp | tg.BatchMatmulOp):
            continue
        q = op.quant
        real = [quant.dequantize(values[v], fix).astype(np.float64)
                for v, fix in zip(op.operands, q.input_positions, strict=False)]
        if isinstance(op, tg.LayerNormOp):
            weight = int8[op.weight.owner.key.data] * 2.0**-q.weight_position
            bias = int8[op.bias.owner.key.data] * 2.0**-q.bias_position
            reference = layers.layer_norm_float(real[0], weight, bias, op.eps)
        elif isinstance(op, tg.SoftmaxOp):
            reference = layers.softmax_float(real[0])
        else:
            reference = np.matmul(real[0], real[1])
        assert _lsb_distance(values[op.results[0]], reference.astype(np.float64),
                             q.output_position) <= 1, op.name
        checked += 1
    assert checked == 2 * (2 + 3) + 1  # per block: two norms, softmax, two products; a norm


def test_tg_quantize_refuses_a_softmax_row_longer_than_int32_can_sum():
    builder = GraphBuilder("long", (1, layers.SOFTMAX_MAX_ROW + 1))
    module = builder.finish(builder.softmax(builder.input)).module
    with pytest.raises(PassFailedException, match="its INT8 form takes at most 65536"):
        TgQuantizePass().quantize(module, {}, random_inputs(module))


GATED = """builtin.module attributes {tg.weights = "g.npz"} {
  tg.graph @g(%x: tensor<1x8x8x4xf32>) -> (tensor<1x8x8x4xf32>) {
    %s = tg.weight "s" : tensor<1x1x1x4xf32>
    %m = tg.mul %x, %s : (tensor<1x8x8x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x8x8x4xf32>
    %a = tg.weight "a" : tensor<1x8x8x4xf32>
    %y = tg.add %m, %a : (tensor<1x8x8x4xf32>, tensor<1x8x8x4xf32>) -> tensor<1x8x8x4xf32>
    tg.output %y : tensor<1x8x8x4xf32>
  }
}"""


def test_constants_read_as_data_are_int8_and_map():
    """A product by a per-channel constant runs as a depthwise 1x1 layer whose weights
    are the constant; a full-size constant added is an activation held in DDR from the
    start, as a graph input (both bit for bit)."""
    from bsir.driver.compile import CompileOptions, compile_module

    module = parse_module(GATED)
    rng = np.random.default_rng(0)
    weights = {"s": rng.random((1, 1, 1, 4), dtype=np.float32),
               "a": rng.standard_normal((1, 8, 8, 4), dtype=np.float32)}
    inputs = random_inputs(module, seed=2)
    expected = Executor(module, weights).run(inputs[0])[0]
    quantized = module.clone()
    int8 = TgQuantizePass().quantize(quantized, weights, inputs)
    assert int8["s"].dtype == int8["a"].dtype == np.int8
    got = Executor(quantized, int8).run(inputs[0])[0]
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()
    for grid in ("2x2", "3x5"):
        result = compile_module(module.clone(), weights, grid,
                                options=CompileOptions(calibration=tuple(inputs[0])))
        assert not result.failed
        assert [layer.op for layer in result.layers] == ["tg.mul", "tg.add"]
        assert result.verify(inputs[0]).layers == 2


@pytest.mark.parametrize("grid", ["2x2", "4x4"])
def test_a_table_added_twice_is_loaded_from_ddr_and_exact(grid):
    """A table (a weight read as data) added to a convolution's output, where it becomes
    the fused layer's residual, and again after a pooling layer: both layers load it
    from DDR, and the program is bit for bit the reference's."""
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.weights import materialize

    b = GraphBuilder("table", (1, 8, 8, 16))
    table = b.weight("table", (1, 8, 8, 16), "embedding")
    x = b.add(b.conv(b.input, 16, 3, "conv", pad=1), table)
    built = b.finish(b.add(b.maxpool(x, 1, 1), table))
    inputs = random_inputs(built.module, seed=3)
    result = compile_module(built.module, materialize(built.specs, 0), grid,
                            options=CompileOptions(calibration=tuple(inputs[0])))
    assert [layer.op for layer in result.layers] == ["tg.conv2d+add", "tg.maxpool2d",
                                                     "tg.add"]
    assert result.verify(inputs[0]).layers == 3


def _token_block():
    """A pre-norm transformer MLP block and a softmax over heads, on 17 tokens of 64
    features: layer norms, linear layers over tokens, GELU, a residual addition."""
    b = GraphBuilder("token_block", (17, 64))
    x = b.input
    h = b.gelu(b.linear(b.layer_norm(x, "ln1"), 128, "fc1"))
    y = b.add(b.linear(h, 64, "fc2"), x)
    scores = b.reshape(b.linear(b.layer_norm(y, "ln2"), 96, "fc3"), (4, 17, 24))
    built = b.finish(b.linear(b.reshape(b.softmax(scores), (17, 96)), 10, "head"))
    return built, materialize(built.specs, 0)


@pytest.mark.parametrize("grid, sparsity", [("2x2", 0.0), ("3x7", 0.5), ("4x4", 0.5)])
def test_token_layers_compile_and_run_bit_for_bit(grid, sparsity):
    """Linear layers over tokens (1x1 convolutions over a row of tokens, block-sparse
    with ``linear``), layer norms and a softmax on the array: the simulated program
    computes what the executor does, bit for bit."""
    from bsir.driver.compile import CompileOptions, compile_module

    built, weights = _token_block()
    inputs = random_inputs(built.module, seed=1)[0]
    options = CompileOptions(sparsity=sparsity, linear=True, calibration=tuple(inputs))
    result = compile_module(built.module, weights, grid, options=options)
    assert not result.failed
    report = result.verify(inputs)
    assert report.layers >= 6
    ops = {layer.name: layer.op for layer in result.layers}
    assert ops["ln1"] == "tg.layer_norm" and "tg.softmax" in ops.values()
    if sparsity:
        assert any(layer.blocks is not None for layer in result.layers)


def test_row_wise_layers_keep_whole_rows_on_a_core():
    from bsir.targets.aie2.hardware import resolve_array
    from bsir.targets.aie2.layer_shape import layer_shape
    from bsir.targets.aie2.mapping import map_layer

    built, _ = _token_block()
    array = resolve_array("4x4")
    rowwise = [op for op in built.graph.block.ops
               if isinstance(op, tg.LayerNormOp | tg.SoftmaxOp)]
    assert len(rowwise) == 3
    for op in rowwise:
        shape = layer_shape(op)
        mapping = map_layer(shape, array)
        assert mapping.sub.cout == shape.cout
        assert all(hi - lo in (0, shape.cout) for lo, hi in
                   zip(mapping.split.row_bounds, mapping.split.row_bounds[1:], strict=False))


@settings(max_examples=8, deadline=None)
@given(tokens=st.integers(1, 40), heads=st.integers(1, 4), size=st.integers(1, 24),
       hidden=st.integers(1, 100), rows=st.integers(1, 8), cols=st.integers(1, 8),
       sparsity=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 99))
def test_random_token_layers_run_bit_for_bit_on_random_grids(tokens, heads, size, hidden,
                                                             rows, cols, sparsity, seed):
    """Layer norm, linear layers over tokens, GELU, a residual addition, heads moved to
    the front and back (transposes), self-attention (the products of two activations
    and the softmax between them), the first token sliced off: the simulated program
    is the executor's, bit for bit."""
    from bsir.driver.compile import CompileOptions, compile_module

    features = heads * size
    b = GraphBuilder("tokens", (tokens, features))
    y = b.linear(b.gelu(b.linear(b.layer_norm(b.input, "ln"), hidden, "fc1")), features, "fc2")
    split = b.transpose(b.reshape(b.add(y, b.input), (tokens, heads, size)), (1, 0, 2))
    scores = b.softmax(b.batch_matmul(split, b.transpose(split, (0, 2, 1))))
    attended = b.batch_matmul(scores, split)
    merged = b.reshape(b.transpose(attended, (1, 0, 2)), (tokens, features))
    built = b.finish(b.linear(b.slice(merged, 0, 0, 1), 10, "head"),
                     b.transpose(merged, (1, 0)))
    inputs = random_inputs(built.module, seed=seed)[0]
    options = CompileOptions(sparsity=sparsity, linear=True, calibration=tuple(inputs))
    result = compile_module(built.module, materialize(built.specs, seed), f"{rows}x{cols}",
                            options=options)
    assert not result.failed
    result.verify(inputs)


def test_what_the_array_does_not_map_yet_is_refused_in_one_line():
    from bsir.passes.convert_tg_to_tiling import ConvertTgToTilingPass

    for shape, make, message in (
            ((2, 3, 4, 8), lambda g: g.concat([g.input, g.input], axis=1),
             r"it joins axis 1 of \[2, 6, 4, 8\], whose inputs are not whole blocks"),
            ((8, 8, 4), lambda g: g.add(g.input, g.weight("table", (1, 8, 4), "embedding")),
             "reads weight 'table' as data"),  # broadcast over the first axis
            ((1, 8, 8, 4), lambda g: g.conv(g.concat([g.input, g.input], axis=0), 4, 3,
                                            "conv"),
             r"its input \[2, 8, 8, 4\] is a batch of 2 images")):
        builder = GraphBuilder("g", shape)
        module = builder.finish(make(builder)).module
        with pytest.raises(PassFailedException, match=message):
            ConvertTgToTilingPass().apply(None, module)


def _window_attention():
    """Swin's pattern on an 8 x 8 x 16 map: partition into 2 x 2 windows of 4 x 4 tokens
    (a transpose of six axes), 2-head attention in each window (heads x tokens moved
    within windows x heads: four axes, the first longer than one), a shared
    relative-position table added to every window's scores, the windows joined back."""
    b = GraphBuilder("windows", (1, 8, 8, 16))
    x = b.reshape(b.input, (1, 2, 4, 2, 4, 16))
    tokens = b.reshape(b.transpose(x, (0, 1, 3, 2, 4, 5)), (64, 16))  # window by window
    qkv = b.linear(b.layer_norm(tokens, "norm"), 48, "qkv")
    heads = b.transpose(b.reshape(qkv, (4, 16, 3, 2, 8)), (2, 0, 3, 1, 4))  # 3x4x2x16x8
    q, k, v = (b.reshape(b.slice(heads, 0, i, i + 1), (4, 2, 16, 8)) for i in range(3))
    scores = b.batch_matmul(q, b.transpose(k, (0, 1, 3, 2)))
    table = b.weight("relative_position_bias", (4, 2, 16, 16), "embedding")
    mixed = b.batch_matmul(b.softmax(b.add(scores, table)), v)             # 4x2x16x8
    joined = b.reshape(b.transpose(mixed, (0, 2, 1, 3)), (64, 16))
    out = b.linear(joined, 16, "proj")
    back = b.transpose(b.reshape(out, (1, 2, 2, 4, 4, 16)), (0, 1, 3, 2, 4, 5))
    return b.finish(b.add(b.reshape(back, (1, 8, 8, 16)), b.input))


@pytest.mark.parametrize("grid", ["2x2", "3x5"])
def test_window_partitions_and_windowed_attention_run_bit_for_bit(grid):
    """Transposes of any rank are copies whose memtile reads follow the tensor's index
    map (windows x heads held together as the rows H): the program is the reference's,
    bit for bit."""
    from bsir.driver.compile import CompileOptions, compile_module

    built = _window_attention()
    inputs = random_inputs(built.module, seed=4)[0]
    result = compile_module(built.module, materialize(built.specs, 0), grid,
                            options=CompileOptions(calibration=tuple(inputs)))
    assert sum(layer.op == "tg.transpose" for layer in result.layers) >= 4
    assert result.verify(inputs).layers == len(result.layers)
