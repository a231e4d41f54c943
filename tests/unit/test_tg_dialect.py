"""The tg dialect's Python API: constructors infer shapes, verifiers reject bad layers."""

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.utils.exceptions import VerifyException

from bsir.dialects import tg
from bsir.dialects import tg_shapes as shapes
from bsir.ir import parse_module, print_module, verify_module


def graph_with(*input_shapes):
    graph = tg.GraphOp("g", [tg.tensor_type(s) for s in input_shapes], [])
    return graph, graph.block.args


def close(graph, *outputs):
    graph.block.add_op(tg.OutputOp(outputs))
    graph.properties["function_type"] = type(graph.function_type).from_lists(
        [a.type for a in graph.block.args], [v.type for v in outputs])
    module = ModuleOp([graph])
    module.attributes[tg.WEIGHTS_ATTR] = StringAttr("w.npz")
    return module


def test_conv_constructor_infers_shape_and_round_trips():
    graph, (x,) = graph_with((1, 13, 11, 6))
    w = tg.WeightOp("w", tg.tensor_type((12, 3, 5, 3)))
    graph.block.add_op(w)
    conv = tg.Conv2dOp(x, w.result, stride=(2, 1), pad=(1, 2, 0, 2), dilation=(1, 2), groups=2)
    graph.block.add_op(conv)
    # H: (13 + 1 - 3) // 2 + 1 = 6; W: the dilated kernel spans 9, (11 + 4 - 9) + 1 = 7.
    assert tg.tensor_shape(conv.output) == (1, 6, 7, 12)
    module = close(graph, conv.output)
    verify_module(module)
    again = parse_module(print_module(module))
    assert module.is_structurally_equivalent(again)


@pytest.mark.parametrize("kwargs, message", [
    ({"groups": 4}, "groups 4 must divide"),
    ({"stride": (1,)}, "stride must have 2 values"),
    ({"pad": (1, 1, 1, -1)}, "pad values must be >= 0"),
    ({"dilation": (5, 5)}, "larger than the padded input"),
])
def test_conv_constructor_rejects_bad_parameters(kwargs, message):
    graph, (x,) = graph_with((1, 8, 8, 6))
    w = tg.WeightOp("w", tg.tensor_type((6, 3, 3, 6)))
    graph.block.add_op(w)
    with pytest.raises(VerifyException, match=message):
        tg.Conv2dOp(x, w.result, **kwargs)


def test_pool_ceil_mode_drops_a_window_starting_in_padding():
    # 5 wide, kernel 2, stride 2, pad 1 each side, ceil: windows start at -1, 1, 3, 5;
    # the one starting at 5 lies wholly in the right padding and is dropped.
    assert shapes.pool2d_output_shape((1, 5, 5, 1), (2, 2), (2, 2), (1, 1, 1, 1), True) \
        == (1, 3, 3, 1)
    assert shapes.pool2d_output_shape((1, 147, 147, 1), (3, 3), (2, 2)) == (1, 73, 73, 1)
    assert shapes.pool2d_output_shape((1, 112, 112, 1), (3, 3), (2, 2), (1, 1, 1, 1)) \
        == (1, 56, 56, 1)


@pytest.mark.parametrize("cout, cin, block, grid", [
    (64, 64, (8, 8), (8, 8)), (65, 7, (8, 8), (9, 1)), (3, 3, (1, 1), (3, 3)),
    (2048, 512, (16, 4), (128, 128)),
])
def test_blocks_grid_covers_edges(cout, cin, block, grid):
    assert shapes.blocks_grid(cout, cin, block) == grid


def test_sparsity_attr_packs_and_unpacks_any_mask():
    rng = np.random.default_rng(1)
    for rows, cols in [(1, 1), (3, 5), (8, 8), (9, 1), (17, 13)]:
        mask = rng.random((rows, cols)) < 0.5
        attr = tg.SparsityAttr.from_mask((8, 8), mask)
        attr.verify()
        assert attr.grid_shape == (rows, cols)
        assert np.array_equal(attr.mask_array(), mask)
        assert attr.density() == pytest.approx(mask.mean())


def test_sparsity_attr_verifies_mask_length():
    bad = tg.SparsityAttr.from_mask((8, 8), np.ones((2, 2), bool))
    with pytest.raises(VerifyException, match="needs 1"):
        tg.SparsityAttr(bad.block, bad.grid, StringAttr("ff00"))


def test_quant_attr_optional_fields():
    q = tg.QuantAttr.get([5, 6], output=4)
    assert q.weight_position is None and q.bias_position is None
    assert q.input_positions == (5, 6) and q.output_position == 4
    w = tg.QuantAttr.get([5], output=4, weight=7, bias=12)
    assert (w.weight_position, w.bias_position) == (7, 12)


def test_i8_conv_needs_i32_bias_and_quant():
    text = """
    builtin.module attributes {tg.weights = "q.npz"} {
      tg.graph @q(%x: tensor<1x4x4x8xi8>) -> (tensor<1x4x4x16xi8>) {
        %w = tg.weight "w" : tensor<16x1x1x8xi8>
        %b = tg.weight "b" : tensor<16xf32>
        %c = tg.conv2d %x, %w, %b {stride = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>,
          dilation = array<i64: 1, 1>, groups = 1 : i64,
          quant = #tg.quant<inputs = [5], weight = 7, bias = 12, output = 4>}
          : (tensor<1x4x4x8xi8>, tensor<16x1x1x8xi8>, tensor<16xf32>) -> tensor<1x4x4x16xi8>
        tg.output %c : tensor<1x4x4x16xi8>
      }
    }"""
    with pytest.raises(Exception, match="bias must be i32 for i8 inputs"):
        verify_module(parse_module(text, "q.mlir"))


def test_graph_accessors():
    graph, (x,) = graph_with((1, 4, 4, 2))
    relu = tg.ReluOp(x)
    graph.block.add_op(relu)
    close(graph, relu.output)
    assert graph.output.values[0] is relu.output
    assert graph.block.args[0] is x
