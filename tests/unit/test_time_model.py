"""The time model, reproduced by hand from the rules alone, and its consistency."""

import numpy as np
import pytest
from search_space import without_columns_inside

from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module, load_source
from bsir.driver.pipeline import run_pipeline
from bsir.models import build_model
from bsir.models.builder import GraphBuilder
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.layout import bytes_live_across
from bsir.targets.aie2.mapping import map_layer_among
from bsir.targets.aie2.program import Subvolume
from bsir.weights import current_weights, in_memory_weights, materialize

GB = 1e9
MACS_PER_S = 256e9


def one_conv(sparse: bool, row_parts: bool = True):
    """28x28x64 -> 64, 3x3, padding 1 (the kind of layer of paper section 4.6)."""
    b = GraphBuilder("one", (1, 28, 28, 64), "one.npz")
    model = b.finish(b.conv(b.input, 64, 3, "conv", pad=1, bias=False))
    arrays = materialize(model.specs, 0)
    if sparse:
        with in_memory_weights(model.module, arrays):
            run_pipeline(model.module, "tg-sparsify{ratio=0.5 balanced=true report=false}")
            arrays = current_weights(model.module)
    return compile_module(model.module, arrays, "4x4",
                          options=CompileOptions(row_parts=row_parts))


@pytest.fixture
def row_blocks_only():
    """The mapper without the loop order that streams whole-height column chunks
    through each input-channel chunk's weights: the mapping worked out by hand below
    (5-row blocks of every input channel) is the one it picks then."""
    with without_columns_inside():
        yield


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_padded_convolution_on_4x4_by_hand(sparse, row_blocks_only):
    result = one_conv(sparse, row_parts=False)  # the paper's splits: worked by hand
    layer = next(op for op in only_graph(result.module).block.ops
                 if isinstance(op, aie2.LayerOp))
    sub = layer.subvolume.as_dict()
    # The mapping: width 28 over 4 columns (7 each), 64 channels over 4 rows (16 each),
    # 5 output rows per iteration. 12 rows would fit the 8 KB input buffer (14 x 9 x 64),
    # but three row blocks make a head, a body and a tail of one iteration each, which
    # load, compute and store one after another; six blocks give a body of four that
    # overlap, and the search, costing both by the rules below, takes six.
    assert layer.split.get("cols") == (0, 7, 14, 21, 28)
    assert layer.split.get("rows") == (0, 16, 32, 48, 64)
    assert (sub["h"], sub["w"], sub["cout"], sub["cin"]) == (5, 7, 16, 64)
    density = 0.5 if sparse else 1.0
    # DDR, per memtile (4 in parallel): the input 28*28*64/4 and the weights
    # 64*3*3*64/4 (halved when sparse) load in parallel at 4 GB/s each; the output
    # 28*28*64/4 is written at 8 GB/s.
    load, loadw = 12544 / (4 * GB), 9216 * density / (4 * GB)
    ddr = max(load, loadw) + 12544 / (8 * GB)
    # LOADWDM: each core's 16 x 3 x 3 x 64 weights (kept blocks only), halting.
    weights = 16 * 9 * 64 * density / (4 * GB)
    # Rows 0-4 read input rows 0-5 (top padding): the head, one iteration, in sequence.
    # Rows 5-24 in four blocks of 5, each reading 7 input rows: the body, overlapped,
    # 4 x its slowest stage. Rows 25-27 read 24-27 (bottom padding): the tail.
    macs_per_row = 7 * 16 * 9 * 64 * density
    head = 6 * 9 * 64 / (4 * GB), 5 * macs_per_row / MACS_PER_S, 5 * 7 * 16 / (4 * GB)
    body = 7 * 9 * 64 / (4 * GB), 5 * macs_per_row / MACS_PER_S, 5 * 7 * 16 / (4 * GB)
    tail = 4 * 9 * 64 / (4 * GB), 3 * macs_per_row / MACS_PER_S, 3 * 7 * 16 / (4 * GB)
    body_s = 4 * max(body)
    body_computes = body[1] >= max(body[0], body[2])
    assert body_computes != sparse   # dense MACs pace the body, sparse loads do
    memtile_core = weights + sum(g[0] + g[2] for g in (head, tail)) \
        + (0.0 if body_computes else body_s)
    compute = head[1] + tail[1] + (body_s if body_computes else 0.0)
    timed = result.timing.layers[0]
    assert timed.ddr_s == pytest.approx(ddr, rel=1e-12)
    assert timed.memtile_core_s == pytest.approx(memtile_core, rel=1e-12)
    assert timed.compute_s == pytest.approx(compute, rel=1e-12)
    assert timed.total_s == pytest.approx(ddr + memtile_core + compute, rel=1e-12)
    phases = [op.phase.data for op in layer.instructions if isinstance(op, aie2.CompOp)]
    assert phases == ["head", "body", "tail"]


def test_sparse_single_convolution_is_faster():
    assert one_conv(True).timing.total_s < one_conv(False).timing.total_s


@pytest.mark.parametrize("name, grid", [("resnet50", "4x4"), ("inception_v3", "3x7"),
                                        ("vgg16", "2x2"), ("tiny_inception", "8x4")])
def test_estimates_are_consistent_and_above_their_floors(name, grid):
    model = build_model(name)
    result = compile_module(model.module, materialize(model.specs, 0), grid)
    timing, array = result.timing, result.array
    assert timing.total_s == pytest.approx(sum(layer.total_s for layer in timing.layers))
    for layer in timing.layers:
        assert layer.total_s == pytest.approx(layer.ddr_s + layer.memtile_core_s
                                              + layer.compute_s)
        floor = layer.macs_computed / (array.cores * array.macs_per_second)
        assert layer.total_s >= floor * (1 - 1e-9), layer.name
    # Compulsory DDR traffic: every weight byte crosses from DDR once, over all memtiles.
    weight_bytes = sum(int(np.prod(s.shape)) for s in model.specs
                       if s.init == "he")
    assert timing.total_s >= weight_bytes / (array.memtiles * array.ddr_load_bandwidth())


@pytest.mark.parametrize("model", ["resnet50", "inception_v3", "vgg16"])
@pytest.mark.parametrize("grid", ["2x2", "8x8", "3x7"])
def test_the_mapper_cost_is_the_time_model_estimate(model, grid):
    """One cost function: what the search minimised for each layer is, to the last bit,
    the memtile<->core and compute time the time model reports for its program."""
    module, arrays, _ = load_source(model)
    result = compile_module(module, arrays, grid, "shared", CompileOptions(quantize=False))
    layers = [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]
    others = bytes_live_across(only_graph(result.module).block,
                               len(result.array.activation_memtiles))
    for layer, timed in zip(layers, result.layers, strict=True):
        mapping = map_layer_among(layer_shape(layer.inner), result.array, others[layer])
        assert Subvolume.of(layer) == mapping.sub
        assert timed.memtile_core_s + timed.compute_s == mapping.on_array_s, timed.name

