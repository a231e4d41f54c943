"""Residual additions fused into the convolution that produces one of their operands:
chosen where the mapper's costs say it pays, computed bit for bit, written in place."""

from dataclasses import replace

import pytest
from xdsl.dialects.builtin import UnitAttr

from bsir.dialects import aie2, tg
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module
from bsir.driver.verify import VerificationError, verify_compiled
from bsir.executor import random_inputs
from bsir.models.builder import GraphBuilder
from bsir.passes.convert_tg_to_tiling import fuse_additions
from bsir.targets.aie2.hardware import resolve_array
from bsir.targets.aie2.layer_shape import FUSED_ADD_ATTR, layer_inputs, layer_shape
from bsir.targets.aie2.layout import bytes_live_across
from bsir.targets.aie2.mapping import map_layer_among
from bsir.targets.aie2.simulator import SimulationError
from bsir.weights import materialize


def block_of(size: int, channels: int, out: int):
    """A bottleneck's tail: a 1x1 downsample and a 1x1 expansion of one input, added,
    then ReLU."""
    builder = GraphBuilder("tail", (1, size, size, channels))
    down = builder.conv(builder.input, out, 1, "down")
    conv = builder.conv(builder.input, out, 1, "conv")
    return builder.finish(builder.relu(builder.add(down, conv)))


@pytest.mark.parametrize("size,channels,out,grid,fused", [
    (56, 64, 256, "4x4", True),     # layer1: reading the residual costs less than an add
    (7, 512, 2048, "4x4", False),   # layer4: each core's residual from every memtile
    (14, 256, 1024, "2x2", True),  # layer3 on 2x2
])
def test_an_addition_is_fused_where_the_costs_say_so(size, channels, out, grid, fused):
    built = block_of(size, channels, out)
    block = only_graph(built.module).block
    array = resolve_array(grid)
    tiles = len(array.activation_memtiles)
    others = bytes_live_across(block, tiles)
    add = next(op for op in block.ops if isinstance(op, tg.AddOp))
    conv = add.rhs.owner  # the later producer hosts the addition
    add.attributes[FUSED_ADD_ATTR] = UnitAttr()  # the bytes live across the fused layer
    fused_others = bytes_live_across(block, tiles)
    del add.attributes[FUSED_ADD_ATTR]
    alone = layer_shape(conv)
    together = map_layer_among(replace(alone, residual=True), array, fused_others[conv])
    apart = map_layer_among(alone, array, others[conv]).estimate_s \
        + map_layer_among(layer_shape(add), array, others[add]).estimate_s
    marked, after = fuse_additions(block, array, tiles)
    assert (marked == [add]) == fused == (together.estimate_s < apart)
    assert after == bytes_live_across(block, tiles)
    assert (FUSED_ADD_ATTR in add.attributes) == fused
    if fused:
        assert layer_shape(add) is None and layer_shape(conv).residual


@pytest.fixture(scope="module")
def fused_program():
    built = block_of(28, 64, 256)
    x = random_inputs(built.module, 0, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), "4x4", "shared",
                            CompileOptions(0.5, calibration=tuple(x)))
    layers = [op for op in only_graph(result.module).block.ops
              if isinstance(op, aie2.LayerOp)]
    return result, x, layers


def test_a_fused_addition_is_bit_exact_and_written_over_its_residual(fused_program):
    result, x, layers = fused_program
    assert len(layers) == 2
    down, conv = layers
    assert [op.name for op in conv.body.block.ops][:3] == ["tg.conv2d", "tg.add", "tg.relu"]
    assert layer_inputs(conv)[-1] is down.output
    place = conv.placement.as_dict()
    assert place["output"][0] == place["inputs"][2]  # over the residual, which dies here
    assert result.layers[1].op == "tg.conv2d+add"
    report = verify_compiled(result.module, result.weights, x)
    assert report.layers == 2


def test_a_residual_read_from_the_wrong_place_is_caught(fused_program):
    result, x, layers = fused_program
    conv = layers[1]
    old = conv.placement
    place = old.as_dict()
    inputs = list(place["inputs"])
    inputs[2] += 64  # the residual's address, off by 64 bytes
    place["inputs"] = inputs
    conv.properties["placement"] = type(old).make(**place)
    try:
        with pytest.raises((SimulationError, VerificationError)) as caught:
            verify_compiled(result.module, result.weights, x)
    finally:
        conv.properties["placement"] = old
    assert "layer 'conv'" in str(caught.value)
    verify_compiled(result.module, result.weights, x)  # restored: passes again
