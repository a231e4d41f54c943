"""Sparsity invariants (docs/design.md): exact zero fractions, compaction is the identity."""

import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bsir import sparsity
from bsir.compaction import pack, unpack
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.driver.pipeline import run_pipeline
from bsir.models.builder import GraphBuilder
from bsir.weights import ir_location, load_weights, materialize, save_weights

blocks = st.tuples(st.integers(1, 16), st.integers(1, 16))
ratios = st.floats(0.0, 1.0)


@st.composite
def weights(draw):
    cout, cin = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    k = draw(st.sampled_from([(1, 1), (3, 3), (1, 7)]))
    shape = (cout, *k, cin) if draw(st.booleans()) else (cout, cin)
    return draw(arrays(np.float32, shape, elements=st.floats(-4, 4, width=32)))


@given(weights(), blocks, ratios, st.sampled_from(sparsity.CRITERIA))
def test_exactly_the_requested_fraction_is_zero(weight, block, ratio, criterion):
    mask = sparsity.block_mask(weight, block, ratio, criterion)
    assert mask.shape == sparsity.grid_shape(weight.shape, block)
    assert (~mask).sum() == sparsity.zero_count(mask.size, ratio)
    assert abs((~mask).sum() - ratio * mask.size) <= 0.5


@given(weights(), blocks, ratios)
def test_balanced_rows_keep_equal_counts(weight, block, ratio):
    mask = sparsity.block_mask(weight, block, ratio, "l2", balanced=True)
    cols = mask.shape[1]
    assert (mask.sum(axis=1) == cols - sparsity.zero_count(cols, ratio)).all()


@given(weights(), blocks, st.data())
def test_pack_unpack_is_identity_on_kept_blocks(weight, block, data):
    grid = sparsity.grid_shape(weight.shape, block)
    mask = data.draw(arrays(bool, grid))
    packed = pack(weight, mask, block)
    assert packed.nnz_blocks == mask.sum()
    assert np.array_equal(packed.mask(), mask)
    assert np.array_equal(unpack(packed), sparsity.apply_mask(weight, mask, block))
    start = data.draw(st.integers(0, grid[0]))
    stop = data.draw(st.integers(start, grid[0]))
    rows = packed.row_slice(start, stop)
    bo = block[0]
    assert np.array_equal(unpack(rows), unpack(packed)[start * bo: stop * bo])


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3]), blocks, ratios)
def test_tg_sparsify_pass_zeroes_the_fraction(cout, cin, k, block, ratio):
    builder = GraphBuilder("one", (1, 6, 6, cin), "one.npz")
    module = builder.finish(builder.conv(builder.input, cout, k, "conv", pad=k // 2)).module
    ratio = float(f"{ratio:.9f}")  # the pipeline's option lexer takes plain decimals
    with tempfile.TemporaryDirectory() as folder:
        save_weights(os.path.join(folder, "one.npz"), materialize(builder.specs, 0))
        ir = os.path.join(folder, "one.mlir")
        with ir_location(ir):
            run_pipeline(module, f"tg-sparsify{{block={block[0]},{block[1]} ratio={ratio:.9f} "
                                 "report=false}")
            arrays = load_weights(module)
    conv = next(op for op in only_graph(module).block.ops if isinstance(op, tg.Conv2dOp))
    if sparsity.zero_count(1, ratio) == 0 and ratio == 0.0:
        assert conv.sparsity is None  # ratio 0 leaves the layer dense
        return
    mask = conv.sparsity.mask_array()
    assert (~mask).sum() == sparsity.zero_count(mask.size, ratio)
    zero_blocks = ~sparsity.mask_of_zero_blocks(arrays["conv.weight"], block)
    assert (zero_blocks | mask).all()     # every dropped block is zero in the new weights
