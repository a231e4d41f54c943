"""Choosing how a layer runs on the array (paper sections 4.2-4.3).

For one layer this module decides

- the **split**: output width across core columns (W-split), or output channels across
  columns when the width is narrower than the array (e.g. a linear layer); output
  channels across core rows (COUT-split), in whole block rows for block-sparse weights;
- the **subvolume** each core computes per iteration: output rows (H streamed through
  ping/pong), output columns, output channels and, only as a last resort, input
  channels (CIN-split, accumulating int32 partial sums);
- the **DDR passes**: when the layer's input, weights and output do not fit the
  memtiles, the computation is tiled further into H bands and COUT bands, each loaded
  from and written back to DDR.

Data sizes are those of the INT8 deployment: 1 byte per activation and weight, 4 per
bias and per partial sum. Among all subvolumes that fit the core buffers, the one with
the least estimated time (the rules of docs/design.md) is chosen, so uneven sizes
(prime widths, channel counts that do not divide) only cost idle cores, never failure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from itertools import pairwise
from math import ceil

import numpy as np

from bsir.diagnostics import BsirError
from bsir.dialects import tiling
from bsir.targets.aie2.hardware import AIE2Array
from bsir.targets.aie2.layout import Distribution
from bsir.targets.aie2.memtile_allocator import align

BIAS_BYTES = 4
PARTIAL_SUM_BYTES = 4


def even_bounds(total: int, parts: int, unit: int = 1) -> tuple[int, ...]:
    """Split ``total`` into ``parts`` ranges as even as possible, in multiples of ``unit``
    (the last range may be shorter); parts beyond the units available are empty."""
    units = ceil(total / unit)
    base, extra = divmod(units, parts)
    bounds, edge = [0], 0
    for index in range(parts):
        edge += (base + (1 if index < extra else 0)) * unit
        bounds.append(min(edge, total))
    return tuple(bounds)


def window(out_size: int, kernel: int, stride: int, dilation: int) -> int:
    """Input extent that ``out_size`` outputs read (kernel overlap included)."""
    return (out_size - 1) * stride + dilation * (kernel - 1) + 1 if out_size else 0


@dataclass(frozen=True)
class LayerShape:
    """A layer in mapping terms (batch 1, NHWC, INT8 sizes)."""

    kind: str                      # conv, matmul, pool, eltwise, view
    in_hw: tuple[int, int]
    cin: int                       # input channels of the main input
    out_hw: tuple[int, int]
    cout: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    inputs: int = 1                # activation inputs (2 for add)
    has_bias: bool = False
    block: tuple[int, int] = (8, 8)
    block_row_nnz: tuple[int, ...] | None = None  # kept blocks per COUT block row
    other_input_bytes: int = 0     # bytes of extra inputs (concat: all but the largest)

    @property
    def weighted(self) -> bool:
        return self.kind in ("conv", "matmul")

    @property
    def cin_per_group(self) -> int:
        return self.cin // self.groups

    @property
    def block_cols(self) -> int:
        return ceil(self.cin_per_group / self.block[1])

    @property
    def channel_unit(self) -> int:
        """Output channels move between cores in these units."""
        return self.block[0] if self.block_row_nnz is not None else 1

    @property
    def ops_per_output(self) -> int:
        """MACs (or compares/adds for pools and element-wise ops) per output element."""
        kh, kw = self.kernel
        if self.weighted:
            return kh * kw * self.cin_per_group
        if self.kind == "pool":
            return kh * kw
        return self.inputs

    @property
    def dense_macs(self) -> int:
        return self.out_hw[0] * self.out_hw[1] * self.cout * self.ops_per_output

    def density(self) -> float:
        if self.block_row_nnz is None:
            return 1.0
        total = len(self.block_row_nnz) * self.block_cols
        return sum(self.block_row_nnz) / total if total else 1.0

    def weight_bytes(self, c0: int, c1: int, cin_chunk: int | None = None) -> int:
        """Bytes of the (compacted) weights of channels [c0, c1), one CIN chunk."""
        kh, kw = self.kernel
        cin = cin_chunk or self.cin_per_group
        bias = (c1 - c0) * BIAS_BYTES if self.has_bias else 0
        if self.block_row_nnz is None:
            return (c1 - c0) * kh * kw * cin + bias
        bo, bi = self.block
        rows = np.asarray(self.block_row_nnz[c0 // bo: ceil(c1 / bo)])
        blocks = int(np.minimum(rows, ceil(cin / bi)).sum())  # a chunk of k block columns
        return blocks * bo * kh * kw * bi + bias             # holds <= k blocks per row

    @cached_property
    def _nnz_prefix(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.block_row_nnz or ())]).astype(np.int64)

    def chunk_maxima(self, ranges: Sequence[tuple[int, int]], chunk: int, cin: int,
                     out_per_channel: int) -> tuple[int, int]:
        """The largest (weight bytes, computed MACs) of any ``chunk``-channel piece of
        any core's channel range, for one CIN chunk of ``cin`` channels."""
        n_cin = ceil(self.cin_per_group / cin)
        if self.block_row_nnz is None or not self.weighted:
            widest = max((c1 - c0 for c0, c1 in ranges), default=0)
            c = min(chunk, widest)
            return (self.weight_bytes(0, c, cin) if self.weighted else 0,
                    c * out_per_channel * self.ops_per_output // n_cin)
        bo, bi = self.block
        kh, kw = self.kernel
        if cin < self.cin_per_group:  # a CIN chunk of k block columns: <= k blocks per row
            capped = np.minimum(self.block_row_nnz, ceil(cin / bi))
            prefix = np.concatenate([[0], np.cumsum(capped)]).astype(np.int64)
        else:
            prefix = self._nnz_prefix
        block_bytes = bo * kh * kw * bi
        best_weight, best_macs = 0, 0
        step = max(1, ceil(chunk / bo))
        for c0, c1 in set(ranges):
            if c1 <= c0:
                continue
            starts = np.arange(c0 // bo, ceil(c1 / bo), step)
            ends = np.minimum(starts + step, ceil(c1 / bo))
            kept = prefix[ends] - prefix[starts]
            channels = np.minimum(ends * bo, c1) - np.maximum(starts * bo, c0)
            weight = kept * block_bytes
            if self.has_bias:
                weight = weight + channels * BIAS_BYTES
            full = (ends - starts) * self.block_cols
            macs = np.round(channels * out_per_channel * self.ops_per_output * kept
                            / np.maximum(full, 1)).astype(np.int64)
            best_weight = max(best_weight, int(weight.max()))
            best_macs = max(best_macs, int(macs.max()))
        return best_weight, best_macs // n_cin

    @property
    def input_bytes(self) -> int:
        return self.in_hw[0] * self.in_hw[1] * self.cin * self.inputs + self.other_input_bytes

    @property
    def output_bytes(self) -> int:
        return self.out_hw[0] * self.out_hw[1] * self.cout

    @property
    def total_weight_bytes(self) -> int:
        return self.weight_bytes(0, self.cout) if self.weighted else 0


@dataclass(frozen=True)
class Split:
    """How output width and channels are spread over the array."""

    column_mode: str                 # "w": columns split width; "cout": columns split channels
    col_bounds: tuple[int, ...]      # per column: output columns (w) or channel ranges (cout)
    row_bounds: tuple[int, ...]      # per row: output channels (within the column's range)

    @staticmethod
    def of(layer: tiling.LayerOp) -> Split:
        """The split a mapped layer's ``#tiling.split`` records."""
        attr = layer.split
        return Split(attr.get("mode"), attr.get("cols"), attr.get("rows"))

    def core_ranges(self, out_width: int, row: int, col: int
                    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """((w0, w1), (c0, c1)) of output a core computes over the whole layer."""
        if self.column_mode == "w":
            w = (self.col_bounds[col], self.col_bounds[col + 1])
            c = (self.row_bounds[row], self.row_bounds[row + 1])
        else:
            w = (0, out_width)
            base = self.col_bounds[col]
            c = (base + self.row_bounds[row], base + self.row_bounds[row + 1])
            c = (min(c[0], self.col_bounds[col + 1]), min(c[1], self.col_bounds[col + 1]))
        return w, c


@dataclass(frozen=True)
class Subvolume:
    """One core iteration: output rows h x columns w x channels cout, from cin channels."""

    h: int
    w: int
    cout: int
    cin: int
    in_h: int
    in_w: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int
    iterations: int          # per core, all chunks
    weight_loads: int        # per core
    macs_per_iteration: int  # the busiest core's
    cin_split: bool


@dataclass(frozen=True)
class DDRTiling:
    """Outer tiling through DDR when the layer does not fit the memtiles."""

    h_passes: int = 1
    cout_passes: int = 1

    @property
    def passes(self) -> int:
        return self.h_passes * self.cout_passes


@dataclass(frozen=True)
class LayerMapping:
    shape: LayerShape
    split: Split
    sub: Subvolume
    ddr: DDRTiling
    rows: int
    cols: int
    estimate_s: float


# --------------------------------------------------------------------------- split


def choose_split(shape: LayerShape, array: AIE2Array) -> Split:
    """W across columns when the output is at least as wide as the array, else COUT."""
    unit = shape.channel_unit
    if shape.out_hw[1] >= array.cols or shape.cout < array.cols * unit:
        cols = even_bounds(shape.out_hw[1], array.cols)
        rows = even_bounds(shape.cout, array.rows, unit)
        return Split("w", cols, rows)
    cols = even_bounds(shape.cout, array.cols, unit)
    widest = max(b - a for a, b in pairwise(cols))
    rows = even_bounds(widest, array.rows, unit)
    return Split("cout", cols, rows)


def _core_extents(shape: LayerShape, split: Split, array: AIE2Array
                  ) -> tuple[int, int, list[tuple[int, int]]]:
    """Widest column slice, widest channel slice, and every core's channel range."""
    widths, ranges = [], []
    for row in range(array.rows):
        for col in range(array.cols):
            (w0, w1), (c0, c1) = split.core_ranges(shape.out_hw[1], row, col)
            widths.append(w1 - w0)
            ranges.append((c0, c1))
    return max(widths), max(c1 - c0 for c0, c1 in ranges), ranges


# --------------------------------------------------------------------------- subvolume


def _chunk_candidates(total: int, unit: int) -> list[int]:
    """Chunk sizes worth trying: ceil(total / k) in whole units, for every k."""
    units = ceil(total / unit)
    return sorted({min(total, ceil(units / k) * unit) for k in range(1, units + 1)},
                  reverse=True)


def _cin_candidates(shape: LayerShape) -> list[int]:
    cin = shape.cin_per_group
    if not shape.weighted:
        return [cin]
    unit = shape.block[1] if shape.block_row_nnz is not None else min(8, cin)
    return _chunk_candidates(cin, unit)


def _max_rows(shape: LayerShape, array: AIE2Array, w: int, cout: int, cin_in: int,
              out_bytes: int, limit: int) -> tuple[int, int, int]:
    """The most output rows that fit the input and output buffers, with both extents."""
    kh, kw = shape.kernel
    sh, sw = shape.stride
    dh, dw = shape.dilation
    in_w = window(w, kw, sw, dw)
    best = (0, 0, in_w)
    lo, hi = 1, limit
    while lo <= hi:
        mid = (lo + hi) // 2
        in_h = window(mid, kh, sh, dh)
        if (in_h * in_w * cin_in * shape.inputs <= array.input_buffer
                and mid * w * cout * out_bytes <= array.output_buffer):
            best = (mid, in_h, in_w)
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def choose_subvolume(shape: LayerShape, split: Split, array: AIE2Array,
                     out_h: int | None = None) -> tuple[Subvolume, float]:
    """The fastest subvolume that fits the core buffers, and its estimated time.

    ``out_h`` restricts the rows (one DDR pass computes a band of the output).
    """
    out_h = out_h or shape.out_hw[0]
    widest, deepest, ranges = _core_extents(shape, split, array)
    widest, deepest = max(widest, 1), max(deepest, 1)
    best: tuple[tuple[float, bool, int], Subvolume] | None = None
    # CIN-split is the last resort: tried only when no full-CIN subvolume fits.
    for allow_cin_split in (False, True):
        if best is not None:
            break
        best = _search(shape, array, out_h, widest, deepest, ranges, allow_cin_split)
    if best is None:
        raise _does_not_fit(shape, array)
    return best[1], best[0][0]


def _search(shape: LayerShape, array: AIE2Array, out_h: int, widest: int, deepest: int,
            ranges: list[tuple[int, int]], allow_cin_split: bool
            ) -> tuple[tuple[float, bool, int], Subvolume] | None:
    link = array.link_bandwidth()
    rate = array.macs_per_second
    best: tuple[tuple[float, bool, int], Subvolume] | None = None
    for cout in _chunk_candidates(deepest, shape.channel_unit):
        for cin in _cin_candidates(shape):
            cin_split = cin < shape.cin_per_group
            if cin_split and not allow_cin_split:
                break
            groups_spanned = 1 if shape.groups == 1 else min(
                shape.groups, ceil(cout / (shape.cout // shape.groups)) + 1)
            cin_in = cin * groups_spanned if shape.weighted else min(cout, shape.cin)
            if shape.kind == "eltwise" or shape.kind == "pool":
                cin_in = cout
            weight_bytes, _ = shape.chunk_maxima(ranges, cout, cin, 1)
            if weight_bytes > array.weight_buffer:
                continue
            out_bytes = PARTIAL_SUM_BYTES if cin_split else 1
            for w in _chunk_candidates(widest, 1):
                h, in_h, in_w = _max_rows(shape, array, w, cout, cin_in, out_bytes, out_h)
                if h == 0:
                    continue
                n_spatial = ceil(out_h / h) * ceil(widest / w)
                n_cout = ceil(deepest / cout)
                n_cin = ceil(shape.cin_per_group / cin) if shape.weighted else 1
                iterations = n_spatial * n_cout * n_cin
                weight_loads = (n_cout * n_spatial * n_cin) if cin_split else n_cout
                if not shape.weighted:
                    weight_loads = 0
                _, macs = shape.chunk_maxima(ranges, cout, cin, h * w)
                input_bytes = in_h * in_w * cin_in * shape.inputs
                output_bytes = h * w * cout
                step = max(input_bytes / link, macs / rate, output_bytes / link)
                time = iterations * step + weight_loads * weight_bytes / link
                sub = Subvolume(h, w, cout, cin, in_h, in_w, input_bytes, output_bytes,
                                weight_bytes, iterations, weight_loads, macs, cin_split)
                # Ties go to fewer iterations, then to no CIN-split (the last resort).
                key = (time, cin_split, iterations)
                if best is None or key < best[0]:
                    best = (key, sub)
                break  # narrower chunks of this (cout, cin) only add iterations
    return best


def _does_not_fit(shape: LayerShape, array: AIE2Array) -> BsirError:
    """Name the core buffer that even the smallest subvolume overflows, and by how much."""
    kh, kw = shape.kernel
    unit = min(shape.channel_unit, shape.cout)
    cin = min(_cin_candidates(shape)) if shape.weighted else unit
    needs = [
        ("weight", shape.weight_bytes(0, unit, cin) if shape.weighted else 0,
         array.weight_buffer),
        ("input", window(1, kh, shape.stride[0], shape.dilation[0])
         * window(1, kw, shape.stride[1], shape.dilation[1]) * cin * shape.inputs,
         array.input_buffer),
        ("output", unit * (PARTIAL_SUM_BYTES if cin < shape.cin_per_group else 1),
         array.output_buffer),
    ]
    for name, need, have in needs:
        if need > have:
            return BsirError(
                f"core {name} buffer overflows by {need - have} bytes ({need} needed for "
                f"the smallest subvolume, {have} available)"
            )
    return BsirError("no subvolume fits the core buffers")  # pragma: no cover


# --------------------------------------------------------------------------- DDR passes


def band_distributions(shape: LayerShape, array: AIE2Array, ddr: DDRTiling
                       ) -> tuple[Distribution, Distribution]:
    """How one DDR pass lays out a band of each input and the band of the output on the
    activation memtiles: like whole tensors (targets/aie2/layout.py), fewer rows and, for
    pools and element-wise layers, only the channels they write."""
    tiles = len(array.activation_memtiles)
    band_out_h = ceil(shape.out_hw[0] / ddr.h_passes)
    band_in_h = min(shape.in_hw[0], window(band_out_h, shape.kernel[0], shape.stride[0],
                                           shape.dilation[0]))
    cout_band = band_channels(shape, ddr.cout_passes)
    cin = shape.cin if shape.weighted else min(shape.cin, cout_band)
    return (Distribution(band_in_h, shape.in_hw[1], cin, tiles),
            Distribution(band_out_h, shape.out_hw[1], cout_band, tiles))


def band_bytes(shape: LayerShape, split: Split, array: AIE2Array,
               ddr: DDRTiling) -> tuple[int, int, int]:
    """Bytes one DDR pass keeps on the busiest memtile: (input bands, output band,
    weights). Each input band is aligned; an element-wise layer writes its output over
    its first input."""
    one_input, output = band_distributions(shape, array, ddr)
    tiles = len(array.activation_memtiles)
    per_tile_in = align(one_input.tile_bytes) * shape.inputs \
        + ceil(shape.other_input_bytes / tiles)
    per_tile_out = 0 if shape.kind == "eltwise" else output.tile_bytes
    weights = 0
    if shape.weighted:  # the largest band's weights
        band = band_shape(shape, ddr.cout_passes)
        weights = ceil(band.weight_bytes(0, band_channels(shape, ddr.cout_passes))
                       / len(array.weight_memtiles))
    return per_tile_in, per_tile_out, weights


def memtile_demand(shape: LayerShape, split: Split, array: AIE2Array,
                   ddr: DDRTiling) -> tuple[int, int, int]:
    """Bytes one activation memtile and one weight memtile need for one DDR pass:
    (activation bytes, weight bytes, total on the busiest memtile)."""
    per_tile_in, per_tile_out, weights = band_bytes(shape, split, array, ddr)
    act = align(per_tile_in) + align(per_tile_out)
    weights = align(weights) if weights else 0
    busiest = act + weights if array.memtile_mode == "shared" else max(act, weights)
    return act, weights, busiest


def choose_ddr_tiling(shape: LayerShape, split: Split, array: AIE2Array,
                      budget: int | None = None) -> DDRTiling:
    """The fewest DDR passes whose working set fits ``budget`` bytes per memtile."""
    budget = array.memtile_bytes if budget is None else budget
    best: tuple[int, DDRTiling] | None = None
    max_h = max(shape.out_hw[0], 1)
    max_c = max(ceil(shape.cout / shape.channel_unit), 1)
    for cout_passes in _pass_counts(max_c):
        for h_passes in _pass_counts(max_h):
            ddr = DDRTiling(h_passes, cout_passes)
            _, _, busiest = memtile_demand(shape, split, array, ddr)
            if busiest <= budget:
                # DDR traffic: the input is read once per COUT band, weights once per H band
                traffic = shape.input_bytes * cout_passes \
                    + shape.total_weight_bytes * h_passes
                if best is None or traffic < best[0]:
                    best = (traffic, ddr)
                break
    if best is None:
        _, _, need = memtile_demand(shape, split, array, DDRTiling(max_h, max_c))
        raise BsirError(
            f"memtile overflows by {need - budget} bytes even with the layer tiled into "
            f"{max_h} row bands and {max_c} channel bands ({need} needed, {budget} available)"
        )
    return best[1]


def _pass_counts(limit: int) -> Iterator[int]:
    """1, 2, 3, ... up to ``limit``, skipping counts that give the same band size."""
    seen = set()
    for k in range(1, limit + 1):
        size = ceil(limit / k)
        if size not in seen:
            seen.add(size)
            yield k


def band_channels(shape: LayerShape, cout_passes: int) -> int:
    """Output channels of one COUT band (whole block rows when sparse)."""
    unit = shape.channel_unit
    return min(shape.cout, ceil(ceil(shape.cout / unit) / cout_passes) * unit)


def band_shape(shape: LayerShape, cout_passes: int) -> LayerShape:
    """The layer restricted to one COUT band. When sparse, block row i of the band keeps
    the most blocks row i keeps in any band: a bound that holds for every pass."""
    if cout_passes == 1:
        return shape
    channels = band_channels(shape, cout_passes)
    nnz = shape.block_row_nnz
    if nnz is not None:
        rows = max(1, channels // shape.block[0])
        padded = np.zeros(ceil(len(nnz) / rows) * rows, dtype=np.int64)
        padded[:len(nnz)] = nnz
        nnz = tuple(int(v) for v in padded.reshape(-1, rows).max(axis=0))
    return replace(shape, cout=channels, block_row_nnz=nnz)


@lru_cache(maxsize=4096)
def map_layer(shape: LayerShape, array: AIE2Array, budget: int | None = None) -> LayerMapping:
    """Split, subvolume and DDR tiling of one layer; with COUT bands, the split and the
    subvolume are those of one band (each pass computes one).

    A pure function of frozen values, so it is memoised: networks repeat layer shapes
    (ResNet50 has 72 layers of 23 shapes) and Table 2 maps each network seven times."""
    ddr = choose_ddr_tiling(shape, choose_split(shape, array), array, budget)
    band = band_shape(shape, ddr.cout_passes)
    split = choose_split(band, array)
    rows = ceil(shape.out_hw[0] / ddr.h_passes)
    sub, estimate = choose_subvolume(band, split, array, rows)
    return LayerMapping(shape, split, sub, ddr, array.rows, array.cols, estimate * ddr.passes)


# --------------------------------------------------------------------------- coverage


def output_tiles(mapping: LayerMapping) -> Iterator[tuple[int, int, tuple[int, int, int, int,
                                                                          int, int]]]:
    """Every (row, col, (h0, h1, w0, w1, c0, c1)) output block a core writes.

    Each output element is written by exactly one tile (tested); the CIN chunks of a
    CIN-split accumulate into the same tile and are not listed separately.
    """
    shape, split, sub, ddr = mapping.shape, mapping.split, mapping.sub, mapping.ddr
    oh = shape.out_hw[0]
    h_bounds = even_bounds(oh, ddr.h_passes) if oh else (0, 0)
    channels = band_channels(shape, ddr.cout_passes)
    for base in range(0, shape.cout, channels):
        for row in range(mapping.rows):
            for col in range(mapping.cols):
                (w0, w1), (c0, c1) = split.core_ranges(shape.out_hw[1], row, col)
                c0, c1 = base + c0, min(base + c1, shape.cout)
                if w1 <= w0 or c1 <= c0:
                    continue
                for band0, band1 in pairwise(h_bounds):
                    for h in range(band0, band1, sub.h):
                        for w in range(w0, w1, sub.w):
                            for c in range(c0, c1, sub.cout):
                                yield row, col, (h, min(h + sub.h, band1), w,
                                                 min(w + sub.w, w1), c, min(c + sub.cout, c1))


def coverage(mapping: LayerMapping) -> np.ndarray:
    """How many tiles write each output element (all ones for a correct mapping)."""
    shape = mapping.shape
    count = np.zeros((*shape.out_hw, shape.cout), dtype=np.int32)
    for _, _, (h0, h1, w0, w1, c0, c1) in output_tiles(mapping):
        count[h0:h1, w0:w1, c0:c1] += 1
    return count
