"""Split, subvolume and DDR tiling choices, checked by hand on small layers."""

import dataclasses
from math import ceil

import numpy as np
import pytest

from bsir.diagnostics import BsirError
from bsir.targets.aie2.geometry import BlockMask
from bsir.targets.aie2.hardware import AIE2Array, CoreLayout, resolve_array
from bsir.targets.aie2.mapping import (
    CANDIDATE_FIELDS,
    LayerShape,
    _split_floor_s,
    band_shape,
    choose_split,
    choose_subvolume,
    coverage,
    ddr_tilings,
    even_bounds,
    map_layer,
    memtile_demand,
    row_part_counts,
    split_modes,
    split_plan,
    window,
)
from bsir.targets.aie2.program import DDRTiling, Subvolume, stream_groups


def conv(h=56, w=56, cin=64, cout=64, k=3, stride=1, pad=1, nnz=None):
    out = ((h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    return LayerShape("conv", (h, w), cin, out, cout, kernel=(k, k), stride=(stride, stride),
                      pad=(pad,) * 4, has_bias=True,
                      block_mask=None if nnz is None else BlockMask.leading(nnz, ceil(cin / 8)))


def test_even_bounds_and_window():
    assert even_bounds(56, 4) == (0, 14, 28, 42, 56)
    assert even_bounds(56, 3) == (0, 19, 38, 56)
    assert even_bounds(7, 8) == (0, 1, 2, 3, 4, 5, 6, 7, 7)          # one idle column
    assert even_bounds(20, 3, unit=8) == (0, 8, 16, 20)               # whole blocks
    assert window(4, 3, 1, 1) == 6 and window(4, 3, 2, 1) == 9 and window(1, 3, 1, 2) == 5


def test_resnet_layer_on_4x4_by_hand():
    mapping = map_layer(conv(), resolve_array("4x4"))
    split, sub = mapping.split, mapping.sub
    assert split.column_mode == "w" and split.col_bounds == (0, 14, 28, 42, 56)
    # The rows form two output-row parts of two channel slices each: a core reads half
    # the input rows a plain W-split core reads, for twice the weights (16 KB in all).
    assert split.parts == 2 and split.row_bounds == (0, 32, 64, 64, 64)
    assert [split.core_block((56, 56), 64, row, 0) for row in range(4)] == [
        ((0, 28), (0, 14), (0, 32)), ((0, 28), (0, 14), (32, 64)),
        ((28, 56), (0, 14), (0, 32)), ((28, 56), (0, 14), (32, 64))]
    # Each core: 28 rows x 14 columns x 32 channels; the buffers bound the subvolume.
    assert sub.in_w == sub.w + 2 and sub.in_h == sub.h + 2
    assert sub.input_bytes == sub.in_h * sub.in_w * sub.cin <= 8192
    assert sub.output_bytes == sub.h * sub.w * sub.cout <= 8192
    assert sub.weight_bytes == sub.cout * 9 * sub.cin + sub.cout * 4 <= 16384
    assert mapping.ddr.passes == 1
    assert (coverage(mapping) == 1).all()


def test_narrow_outputs_split_channels_across_columns():
    fc = LayerShape("matmul", (1, 1), 2048, (1, 1), 1000, has_bias=True)
    mapping = map_layer(fc, resolve_array("4x4"))
    assert mapping.split.column_mode == "cout"
    assert mapping.split.col_bounds == (0, 250, 500, 750, 1000)
    assert (coverage(mapping) == 1).all()


def test_sparse_layers_compute_less():
    # the paper's splits: with output rows split over core rows as well, each core's
    # last row block is charged in full (stream_groups), which this count would see
    dense = map_layer(conv(h=14, w=14, cin=256, cout=256), resolve_array("4x4"),
                      row_parts=False)
    half = map_layer(conv(h=14, w=14, cin=256, cout=256, nnz=(16,) * 32), resolve_array("4x4"),
                     row_parts=False)
    # the MACs of the program's row groups (a short last row block computes its rows)
    computed = sum(g.macs * g.iterations * g.repeat for g in
                   stream_groups(half.shape, half.sub, half.ddr, half.split.row_parts))
    assert computed * 2 == pytest.approx(dense.shape.dense_macs / 16, rel=0.05)
    assert half.estimate_s < dense.estimate_s


def test_densest_core_sets_the_pace():
    # Block rows 0-3 are dense, 4-7 empty: split over channels, the cores holding 0-3 do
    # all the work.
    array = resolve_array("2x2")

    def busiest_macs(nnz):
        shape = conv(h=8, w=8, cin=64, cout=64, k=1, pad=0, nnz=nnz)
        sub, _ = choose_subvolume(shape, choose_split(shape, array, "w"), array)
        return sub.macs_per_iteration * sub.iterations

    assert busiest_macs((8,) * 4 + (0,) * 4) > busiest_macs((4,) * 8)


def test_rows_split_over_core_rows_when_the_input_is_deep():
    # ResNet50's layer1.1.conv1 on 4x4: a W-split streams each column's 56 x 14 x 256
    # input to its cores (50 us at 4 GB/s); split over rows, each core gets a quarter.
    array = resolve_array("4x4")
    shape = conv(h=56, w=56, cin=256, cout=64, k=1, pad=0)
    mapping = map_layer(shape, array)
    assert mapping.split.column_mode == "h"
    assert mapping.split.row_bounds == (0, 14, 28, 42, 56)
    assert (coverage(mapping) == 1).all()
    w_split = choose_split(shape, array, "w")
    _, w_cost = choose_subvolume(shape, w_split, array)
    assert mapping.on_array_s < 0.7 * w_cost


def test_cin_split_when_whole_channels_do_not_fit_or_cost_more():
    tiny = AIE2Array(weight_buffer=1024)
    mapping = map_layer(conv(h=7, w=7, cin=512, cout=64), tiny)
    assert mapping.sub.cin_split and mapping.sub.cin < 512
    assert mapping.sub.weight_bytes <= 1024
    # VGG16 conv4_2 on 4x4: 3 output channels of 512 inputs fill the weight buffer, and
    # re-streaming the input for every 3 channels costs more than chunking the inputs
    layer = conv(h=28, w=28, cin=512, cout=512)
    mapping = map_layer(layer, resolve_array("4x4"))
    assert mapping.sub.cin_split and mapping.sub.cout > 3
    # a grouped convolution splits its input channels only when nothing else fits
    depthwise = LayerShape("conv", (14, 14), 64, (14, 14), 64, kernel=(3, 3),
                           pad=(1,) * 4, groups=64)
    assert not map_layer(depthwise, resolve_array("4x4")).sub.cin_split


def test_layers_too_big_for_the_memtiles_are_tiled_through_ddr():
    fc = LayerShape("matmul", (1, 1), 25088, (1, 1), 4096, has_bias=True)   # VGG16 fc6
    mapping = map_layer(fc, resolve_array("2x2"))
    assert mapping.ddr.cout_passes > 1
    _, _, busiest = memtile_demand(fc, resolve_array("2x2"), mapping.ddr)
    assert busiest <= 512 * 1024
    assert (coverage(mapping) == 1).all()
    big = conv(h=224, w=224, cin=64, cout=64)                                # VGG16 conv1_2
    mapping = map_layer(big, resolve_array("1x1"))
    assert mapping.ddr.h_passes > 1 and (coverage(mapping) == 1).all()


def test_unmappable_layers_name_the_memory_and_the_bytes():
    # 11x11 window x the smallest CIN chunk (8 channels) = 968 bytes.
    with pytest.raises(BsirError, match=r"core input buffer overflows by 904 bytes \(968 needed"):
        map_layer(conv(k=11, pad=5), AIE2Array(input_buffer=64, output_buffer=64))
    with pytest.raises(BsirError, match=r"core weight buffer overflows by 10 bytes \(12 needed"):
        map_layer(conv(cin=64, cout=64, k=1, pad=0),
                  AIE2Array(weight_buffer=2, input_buffer=8192))
    with pytest.raises(BsirError, match=r"memtile overflows by \d+ bytes"):
        map_layer(conv(), AIE2Array(memtile_bytes=100))


def test_sparse_layers_are_never_slower_than_dense():
    # 32 channels in 4 block rows over 8 core rows: whole block rows leave half the rows
    # idle; run with its zeros over all 8 rows, the layer is faster
    shape = LayerShape("conv", (8, 8), 16, (8, 8), 32, kernel=(3, 3), pad=(1,) * 4,
                       has_bias=True, block_mask=BlockMask.leading((1, 1, 2, 0), 2))
    array = resolve_array("8x8")
    mapping = map_layer(shape, array)
    dense = map_layer(LayerShape("conv", (8, 8), 16, (8, 8), 32, kernel=(3, 3),
                                 pad=(1,) * 4, has_bias=True), array)
    assert mapping.keeps_zeros and mapping.shape.block_row_nnz is None
    assert mapping.estimate_s == dense.estimate_s
    # where compacting pays, it is kept
    half = map_layer(conv(h=14, w=14, cin=256, cout=256, nnz=(16,) * 32), resolve_array("4x4"))
    assert not half.keeps_zeros and half.shape.block_row_nnz is not None


def test_a_strided_one_by_one_convolution_moves_only_the_input_it_reads():
    # ResNet50 layer4.0.downsample: 1x1, stride 2. A core's tile keeps one input row and
    # column per output; the DMA skips the rows and columns between.
    shape = LayerShape("conv", (14, 14), 1024, (7, 7), 2048, stride=(2, 2))
    assert shape.gathers(0) and shape.gathers(1)
    assert shape.tile_extent(0, 4) == 4 and shape.tile_extent(1, 3) == 3
    assert list(shape.gathered_positions(0, 2, 5)) == [4, 6, 8]
    tile = shape.tile_geometry()
    assert tile.stride == (1, 1) and tile.in_hw == (7, 7)
    sub = map_layer(shape, resolve_array("4x4")).sub
    assert sub.in_h == sub.h and sub.in_w == sub.w
    assert sub.input_bytes == sub.h * sub.w * sub.cin
    # a 3x3 stride-2 convolution reads rows in between: nothing to skip
    assert not conv(stride=2).gathers(0)


def test_partial_sums_through_the_memtile_when_weights_overflow_the_core():
    # InceptionV3's Mixed_6e 1x7 convolution (17x17, 192 -> 192) on 2x2: each core's 48
    # output channels carry 63 KiB of weights, and the int32 partial sums of its
    # 17x17x48 block (55 KiB) do not fit its output buffers and scratch (32 KiB).
    # Weight-stationary over input-channel chunks, the sums go to the memtile between
    # chunks: each chunk's weights load once.
    array = resolve_array("2x2")
    shape = LayerShape("conv", (17, 17), 192, (17, 17), 192, kernel=(1, 7),
                       pad=(0, 3, 0, 3), has_bias=True)
    mapping = map_layer(shape, array)
    sub = mapping.sub
    assert sub.cin_split and sub.sums_in_memtile and sub.weight_stationary
    assert sub.weight_loads == ceil(192 / sub.cin) * ceil(48 / sub.cout)
    in_core = map_layer(shape, array, sums_budget=0)  # no room for them in the memtiles
    assert not in_core.sub.sums_in_memtile
    assert mapping.on_array_s < in_core.on_array_s
    assert (coverage(mapping) == 1).all()
    # the partial sums ride in the input buffer with the input tile
    assert sub.input_bytes + sub.h * sub.w * sub.cout * 4 <= array.input_buffer


def test_partial_sums_in_the_core_when_a_core_block_is_small():
    # ResNet50's layer3 3x3 convolution on 4x4: 36 KiB of weights per core, a 14x14
    # block of 16 channels per core: the int32 sums of all its tiles fit slots in its
    # output buffers and scratch, so each input-channel chunk's weights load once and
    # nothing moves between the chunks. The core's column chunks, each all 14 rows high,
    # stream through every chunk's weights (columns inside the chunk loop).
    array = resolve_array("4x4")
    shape = conv(h=14, w=14, cin=256, cout=256)
    mapping = map_layer(shape, array)
    sub = mapping.sub
    assert sub.sums_in_scratch and sub.weight_stationary and not sub.sums_in_memtile
    assert sub.columns_inside and sub.cin_split_code == 4 and sub.h == 14
    chunks, columns = ceil(256 / sub.cin), ceil(14 / sub.w)
    assert sub.weight_loads == chunks * ceil(16 / sub.cout)  # once for every column
    assert sub.iterations == sub.weight_loads * columns
    slot = sub.h * sub.w * sub.cout * 4  # every tile of the core, a slot each
    assert columns <= CoreLayout.of(array).sum_slots(slot)
    assert sub.output_bytes == sub.h * sub.w * sub.cout  # int8: only the last chunk writes
    groups = stream_groups(shape, sub, DDRTiling(), mapping.split.row_parts)
    assert {g.phase.partition(".")[2] for g in groups} == {"first", "middle", "last"}
    assert all(g.out_bytes == 0 for g in groups if not g.phase.endswith(".last"))
    # a chunk's column tiles stream as one group of overlapped iterations
    assert all(g.iterations == columns for g in groups)
    assert (coverage(mapping) == 1).all()


@pytest.mark.parametrize("grid", ["2x2", "4x4", "8x8"])
@pytest.mark.parametrize("shape", [
    conv(h=56, w=56, cin=64, cout=64),
    conv(h=14, w=14, cin=256, cout=256, nnz=(16,) * 32),
    conv(h=14, w=14, cin=1024, cout=256, k=1, pad=0),
    conv(h=7, w=7, cin=512, cout=512),
    conv(h=56, w=56, cin=256, cout=512, k=1, stride=2, pad=0),
    LayerShape("maxpool", (112, 112), 64, (56, 56), 64, kernel=(3, 3), stride=(2, 2),
               pad=(1, 1, 1, 1)),
    LayerShape("eltwise", (28, 28), 512, (28, 28), 512, inputs=2),
])
def test_the_search_floor_is_below_every_subvolume_cost(shape, grid):
    # the search visits splits (with their row parts) and DDR tilings in order of this
    # floor and stops at the first one no cheaper than its best mapping: it must hold
    # for every option
    array = resolve_array(grid)
    checked = 0
    for mode in split_modes(shape, array):
        for parts in row_part_counts(shape, array, mode):
            for ddr in ddr_tilings(shape, array):
                band = band_shape(shape, ddr.cout_passes)
                split = choose_split(band, array, mode, None,
                                     ceil(shape.out_hw[0] / ddr.h_passes), parts)
                try:
                    _, cost = choose_subvolume(band, split, array, ddr,
                                               split_plan(band, array, split))
                except BsirError:  # the DMA channels cannot carry it: not an option
                    continue
                assert _split_floor_s(band, split, array, ddr) <= cost * (1 + 1e-12)
                checked += 1
    assert checked >= 2


@pytest.mark.parametrize("cin_chunk", [8, 24, 64])
def test_weight_loads_move_each_chunk_as_packed(cin_chunk):
    # the cores load together: each load costs the largest chunk any core loads then
    rng = np.random.default_rng(3)
    mask = rng.random((8, 8)) < 0.4                  # 64 x 64 channels, 8x8 blocks
    shape = LayerShape("conv", (8, 8), 64, (8, 8), 64, kernel=(3, 3), pad=(1,) * 4,
                       has_bias=True, block_mask=BlockMask.of(mask))
    ranges = ((0, 24), (24, 48), (48, 64))           # three cores' channels
    pieces = shape.pieces(ranges, 16)                # loaded 16 channels at a time
    per_block = 8 * 9 * 8
    moved, largest = 0, 0
    for slot in range(2):
        for k0 in range(0, 64, cin_chunk):
            loads = []
            for c0, c1 in ranges:
                lo, hi = c0 + 16 * slot, min(c0 + 16 * (slot + 1), c1)
                if lo < hi:
                    kept = mask[lo // 8:-(-hi // 8), k0 // 8:-(-min(k0 + cin_chunk, 64) // 8)]
                    loads.append(int(kept.sum()) * per_block + (hi - lo) * 4)
            moved += max(loads)
            largest = max(largest, *loads)
    assert pieces.moved_bytes(cin_chunk) == moved
    assert pieces.weight_bytes(cin_chunk) == largest


def test_candidates_list_the_subvolume_fields_in_order():
    # the search builds its candidates as plain tuples (most are never costed): their
    # order must stay the Subvolume's
    assert tuple(f.name for f in dataclasses.fields(Subvolume)) == CANDIDATE_FIELDS


def test_memo_keys_hash_once_and_pickle_without_it():
    """Shapes, arrays and splits keep their hash (memo keys), equal objects hash equal,
    and a pickle carries no hash (string hashes differ between processes)."""
    import pickle

    from bsir.targets.aie2.geometry import LayerShape
    from bsir.targets.aie2.hardware import AIE2Array
    from bsir.targets.aie2.mapping import Split

    for key in (AIE2Array(), Split("w", (0, 8, 16), (0, 32, 64)),
                LayerShape("conv", in_hw=(8, 8), cin=16, out_hw=(8, 8), cout=32, kernel=(3, 3))):
        kept = hash(key)
        assert key.__dict__["_hash"] == kept
        copy = pickle.loads(pickle.dumps(key))
        assert "_hash" not in copy.__dict__ and copy == key and hash(copy) == kept
