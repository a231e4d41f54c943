"""Tiling invariants (docs/design.md): every output byte is produced by exactly one
subvolume, buffers fit, no two live memtile buffers overlap, addresses are in bounds."""

import os
import re
import tempfile
from dataclasses import replace

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_tg_graphs import random_graphs, weight_specs

from bsir import sparsity
from bsir.diagnostics import BsirError
from bsir.dialects import tg, tiling
from bsir.dialects import tg_shapes as shapes
from bsir.dialects.tg import only_graph
from bsir.driver.pipeline import run_pipeline
from bsir.targets.aie2.bound import layer_bound
from bsir.targets.aie2.geometry import BlockMask
from bsir.targets.aie2.hardware import AIE2Array, CoreLayout
from bsir.targets.aie2.mapping import LayerShape, coverage, map_layer, memtile_demand
from bsir.targets.aie2.memtile_allocator import overlaps
from bsir.weights import ir_location, materialize, save_weights

grids = st.tuples(st.integers(1, 8), st.integers(1, 8))


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "conv", "matmul", "maxpool", "avgpool", "eltwise",
                                 "tokens", "softmax", "layer_norm", "gather", "product"]))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    cin, cout = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    if kind == "matmul":
        return LayerShape("matmul", (1, 1), cin, (1, 1), cout, has_bias=draw(st.booleans()),
                          **draw(masks(cout, cin)))
    if kind == "tokens":  # a linear layer over a row of w tokens
        return LayerShape("matmul", (1, w), cin, (1, w), cout, has_bias=draw(st.booleans()),
                          **draw(masks(cout, cin)))
    if kind == "product":  # of two activations: h heads, w x cin by cin x cout each
        return LayerShape("eltwise", (h, w), cin, (h, w), cout, rhs_depth=cin,
                          other_input_bytes=h * cin * cout, element_ops=cin)
    if kind == "gather":  # a transpose, and a slice of one output axis
        source = (h, w, cin)
        perm = draw(st.permutations([0, 1, 2]))
        sliced = draw(st.integers(0, 2))
        start = draw(st.integers(0, source[perm[sliced]] - 1))
        step = draw(st.integers(1, 3))
        gather = tuple((perm[i], start if i == sliced else 0, step if i == sliced else 1)
                       for i in range(3))
        out = [len(range(first, source[axis], stride)) for axis, first, stride in gather]
        return LayerShape("eltwise", (out[0], out[1]), out[2], (out[0], out[1]), out[2],
                          gather=gather, source=source)
    if kind == "softmax":  # row-wise: whole rows of channels on a core
        return LayerShape("eltwise", (h, w), cin, (h, w), cin, rowwise=True, element_ops=4)
    if kind == "layer_norm":  # row-wise, with a per-channel weight and bias
        return LayerShape("conv", (h, w), cin, (h, w), cin, groups=cin, has_bias=True,
                          rowwise=True, element_ops=4)
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    if kind == "eltwise":
        return LayerShape("eltwise", (h, w), cin, (h, w), cin, inputs=draw(st.integers(1, 2)))
    try:
        out = shapes.conv2d_output_shape((1, h, w, cin), (cout, kh, kw, cin), stride, pad)
    except shapes.ShapeError:
        out = (1, 1, 1, cout)
        h, w, pad = kh, kw, (0, 0, 0, 0)
    if kind in ("maxpool", "avgpool"):
        return LayerShape(kind, (h, w), cin, out[1:3], cin, kernel=(kh, kw), stride=stride,
                          pad=pad)
    return LayerShape("conv", (h, w), cin, out[1:3], cout, kernel=(kh, kw), stride=stride,
                      pad=pad, has_bias=draw(st.booleans()), **draw(masks(cout, cin)))


@st.composite
def masks(draw, cout, cin):
    if draw(st.booleans()):
        return {}
    block = (draw(st.sampled_from([1, 4, 8, 16])), draw(st.sampled_from([1, 4, 8, 16])))
    rows, cols = sparsity.grid_shape((cout, cin), block)
    ratio = draw(st.floats(0, 0.9))
    mask = sparsity.select_mask(np.random.default_rng(draw(st.integers(0, 99))).random(
        (rows, cols)), ratio, balanced=draw(st.booleans()))
    return {"block": block, "block_mask": BlockMask.of(mask)}


@given(layers(), grids, st.sampled_from(["shared", "separate"]))
def test_every_output_element_is_written_once_and_buffers_fit(shape, grid, mode):
    rows, cols = grid
    if mode == "separate" and cols < 2:
        mode = "shared"
    array = AIE2Array(rows=rows, cols=cols, memtile_mode=mode)
    mapping = map_layer(shape, array)
    assert (coverage(mapping) == 1).all()
    sub = mapping.sub
    assert 0 < sub.input_bytes <= array.input_buffer
    # int32 partial sums in the output buffer (CIN-split), else int8 there; kept in the
    # core's slots instead (sums in scratch), every tile's sums a slot
    in_output_buffer = 4 if sub.cin_split and not sub.sums_in_scratch else 1
    assert 0 < sub.output_bytes * in_output_buffer <= array.output_buffer
    if sub.sums_in_scratch:
        assert CoreLayout.of(array).sum_slots(sub.h * sub.w * sub.cout * 4) >= 1
    assert sub.weight_bytes <= array.weight_buffer
    # The core's buffers (input ping/pong, output ping/pong, weights) tile its memory.
    layout = [(0, array.input_buffer), (array.input_buffer, array.input_buffer),
              (2 * array.input_buffer, array.output_buffer),
              (2 * array.input_buffer + array.output_buffer, array.output_buffer),
              (2 * array.input_buffer + 2 * array.output_buffer, array.weight_buffer)]
    assert overlaps(layout, array.core_memory) == []
    _, _, busiest = memtile_demand(shape, array, mapping.ddr)
    assert busiest <= array.memtile_bytes
    # no mapping beats the lower bound, the search's own included
    assert mapping.estimate_s >= layer_bound(shape, array).seconds * (1 - 1e-9)
    # a row-wise layer's core computes whole rows
    if shape.rowwise:
        assert sub.cout == shape.cout
    # sparsity never makes a layer slower: at worst it runs with its zeros
    if shape.block_row_nnz is not None:
        dense = map_layer(replace(shape, block_mask=None), array)
        assert mapping.estimate_s <= dense.estimate_s


def check_placements(module, array_capacity):
    for layer in only_graph(module).block.ops:
        if not isinstance(layer, tiling.LayerOp):
            continue
        place = layer.placement.as_dict()
        live = tiling.PlacementAttr.pairs(place["live"])
        assert overlaps(live, array_capacity) == [], layer.layer_name.data
        weight_live = tiling.PlacementAttr.pairs(place["weight_live"])
        assert overlaps(weight_live, array_capacity) == []
        for what in ("inputs", "output"):
            for address, size in tiling.PlacementAttr.pairs(place[what]):
                if address >= 0:
                    assert any(a <= address and address + size <= a + s for a, s in live)


@given(random_graphs(), grids, st.sampled_from(["shared", "separate"]),
       st.sampled_from([512 * 1024, 16 * 1024, 4 * 1024]), st.sampled_from([0, 1, 3]))
def test_memtile_buffers_never_overlap(module, grid, mode, memtile_bytes, prefetch):
    rows, cols = grid
    if mode == "separate" and cols < 2:
        mode = "shared"
    with tempfile.TemporaryDirectory() as folder:
        hw = os.path.join(folder, "hw.toml")
        with open(hw, "w") as stream:
            stream.write(f'rows = {rows}\ncols = {cols}\n[memtile]\nbytes = {memtile_bytes}\n'
                         f'mode = "{mode}"\n')
        try:
            run_pipeline(module, f'convert-tg-to-tiling{{hardware="{hw}"}},'
                                 f'tiling-color-memtiles{{prefetch={prefetch}}}')
        except BsirError as error:
            # Memtiles of a few KiB can be too small for a layer's one-row, one-band working
            # set (DDR tiling splits rows and output channels, not width or input channels):
            # then, and only then, the layer is refused with the memory and the bytes.
            assert memtile_bytes < 64 * 1024, error.message
            assert re.search(r"cannot map layer '.+' \(tg\.\w+\) on .+: memtile overflows by "
                             r"\d+ bytes", error.message), error.message
            assume(False)
    check_placements(module, memtile_bytes)
    # Everything an output needs is either resident or stored to DDR.
    graph = only_graph(module)
    assert isinstance(graph.block.last_op, tg.OutputOp)


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(random_graphs(), grids, st.floats(0.1, 0.9))
def test_packed_chunks_match_the_mapping(module, grid, ratio):
    rows, cols = grid
    specs = weight_specs(module)
    for op in only_graph(module).block.ops:
        if isinstance(op, tg.Conv2dOp):
            op.properties.pop("sparsity", None)
            op.properties.pop("quant", None)
    with tempfile.TemporaryDirectory() as folder:
        save_weights(os.path.join(folder, "random.npz"), materialize(specs, 0))
        with ir_location(os.path.join(folder, "random.mlir")):
            run_pipeline(module, f"tg-sparsify{{ratio={ratio:.6f} report=false}},"
                                 f"convert-tg-to-tiling{{grid={rows}x{cols}}},"
                                 "tiling-compact-weights,tiling-color-memtiles")
    for layer in only_graph(module).block.ops:
        if isinstance(layer, tiling.LayerOp) and layer.compaction is not None:
            c = layer.compaction.as_dict()
            assert c["kept_blocks"] <= c["total_blocks"]
            assert c["chunk_bytes"] <= 16 * 1024
