"""Choosing how a layer runs on the array (paper sections 4.2-4.3).

For one layer this module decides

- the **split**: output width across core columns (W-split) or output channels across
  columns (every core its own weights, the whole input broadcast); output channels
  across core rows (COUT-split), in whole block rows for block-sparse weights;
- the **subvolume** each core computes per iteration: output rows (H streamed through
  ping/pong), output columns, output channels and input channels (CIN-split,
  accumulating int32 partial sums in the core);
- the **DDR passes**: when the layer's input, weights and output do not fit the
  memtiles, the computation is tiled further into H bands and COUT bands, each loaded
  from and written back to DDR.

Data sizes are those of the INT8 deployment: 1 byte per activation and weight, 4 per
bias and per partial sum. Among all splits and subvolumes that fit, the one of least
cost is chosen, and the cost is the time model's own (targets/aie2/cost.py applied to
the program of targets/aie2/program.py), so uneven sizes (prime widths, channel counts
that do not divide) only cost idle cores, never failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from itertools import pairwise
from math import ceil, inf
from operator import itemgetter

import numpy as np

from bsir.diagnostics import BsirError
from bsir.dialects import tiling
from bsir.frozen import hash_once, state_without_hash
from bsir.targets.aie2.bound import covered, layer_bound
from bsir.targets.aie2.channels import ChannelPlan, layer_plan
from bsir.targets.aie2.cost import UNSHARED, Shares, group_time, on_array_s
from bsir.targets.aie2.geometry import (
    PARTIAL_SUM_BYTES,
    LayerShape,
    even_bounds,
    window,
)
from bsir.targets.aie2.hardware import AIE2Array, CoreLayout
from bsir.targets.aie2.layout import Distribution
from bsir.targets.aie2.memtile_allocator import align
from bsir.targets.aie2.program import DDRTiling, StreamGroup, Subvolume, stream_groups


@dataclass(frozen=True)
class Split:
    """How a layer's output spreads over the array.

    ``column_mode`` "w": output columns across core columns, output channels across core
    rows; "cout": output channels across columns, and each column's across its rows;
    "h": output columns across core columns and output rows across core rows, every core
    every output channel (a 1x1 layer with many input channels then moves each input
    element to one core only, not to one per channel slice).

    A "w" or "cout" split with ``parts`` > 1 also splits output rows: the core rows form
    ``parts`` groups of ``S = R div parts`` rows, each group a part of the output rows,
    and the ``S`` rows of a group split the channels as the split's rows do (core row
    ``r`` computes channel slice ``r mod S`` of row part ``r div S``; the ``R mod
    parts`` rows left over idle): under "w" each core then reads fewer input rows than
    a plain "w" core and holds fewer channels' weights than an "h" core."""

    column_mode: str                 # "w", "cout" or "h"
    col_bounds: tuple[int, ...]      # per column: output columns (w, h) or channels (cout)
    row_bounds: tuple[int, ...]      # per row: output channels (w, cout; within the
    #                                  column's range) or output rows of a band (h); with
    #                                  parts, the bounds of the channel slices, the last
    #                                  repeated to one entry per row
    parts: int = 1                   # output-row parts of a "w" split (see above)

    # a key of the search's memo tables
    __hash__ = hash_once
    __getstate__ = state_without_hash

    @staticmethod
    def of(layer: tiling.MappedLayer) -> Split:
        """The split a mapped layer's ``#tiling.split`` records."""
        attr = layer.split
        return Split(attr.get("mode"), attr.get("cols"), attr.get("rows"), attr.get("parts"))

    @property
    def channel_slices(self) -> int:
        """Output-channel slices across a column's core rows (1 for "h")."""
        if self.column_mode == "h":
            return 1
        if self.parts > 1:
            return (len(self.row_bounds) - 1) // self.parts
        return self.rows_in_use

    @property
    def rows_in_use(self) -> int:
        """Core rows that get output (the others idle)."""
        if self.parts > 1:
            slices = (len(self.row_bounds) - 1) // self.parts
            return self.parts * sum(1 for a, b in pairwise(self.row_bounds[:slices + 1])
                                    if b > a)
        return sum(1 for a, b in pairwise(self.row_bounds) if b > a)

    @property
    def row_parts(self) -> int:
        """Parts the output rows of a band are split into across core rows."""
        return self.rows_in_use if self.column_mode == "h" else self.parts

    def core_block(self, band_hw: tuple[int, int], channels: int, row: int, col: int
                   ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """((h0, h1), (w0, w1), (c0, c1)) of output a core computes in one DDR pass of
        ``band_hw`` output rows x columns and ``channels`` output channels; rows and
        channels relative to the pass's first."""
        return self._block(band_hw, channels, self._row_slice(band_hw[0], row), col)

    def _row_slice(self, band_h: int, row: int) -> tuple[tuple[int, int], int] | None:
        """The output rows core row ``row`` computes (of a band of ``band_h``) and its
        index among the rows that split them (None: a row left over, idle)."""
        if self.parts == 1:
            return (0, band_h), row
        part, row = divmod(row, (len(self.row_bounds) - 1) // self.parts)
        if part >= self.parts:
            return None
        heights = even_bounds(band_h, self.parts)
        return (heights[part], heights[part + 1]), row

    def _block(self, band_hw: tuple[int, int], channels: int,
               row_slice: tuple[tuple[int, int], int] | None, col: int
               ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        if row_slice is None:
            return (0, 0), (0, 0), (0, 0)
        rows, row = row_slice
        if self.column_mode == "cout":
            base, end = self.col_bounds[col], self.col_bounds[col + 1]
            c = (min(base + self.row_bounds[row], end), min(base + self.row_bounds[row + 1],
                                                            end))
            return rows, (0, band_hw[1]), c
        w = (self.col_bounds[col], self.col_bounds[col + 1])
        if self.column_mode == "h":
            h0, h1 = self.row_bounds[row], self.row_bounds[row + 1]
            return (min(h0, band_hw[0]), min(h1, band_hw[0])), w, (0, channels)
        return rows, w, (self.row_bounds[row], self.row_bounds[row + 1])

    def core_blocks(self, band_hw: tuple[int, int], channels: int, rows: int, cols: int
                    ) -> tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...]:
        """:meth:`core_block` of every core of a ``rows`` x ``cols`` array, row by row.
        Memoised: the search asks for them under every DDR tiling and loop order."""
        return _core_blocks(self, band_hw, channels, rows, cols)


@lru_cache(maxsize=8192)
def _core_blocks(split: Split, band_hw: tuple[int, int], channels: int, rows: int, cols: int
                 ) -> tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...]:
    slices = [split._row_slice(band_hw[0], row) for row in range(rows)]
    if split.column_mode == "cout":  # every core its own channels: no shortcut
        return tuple(split._block(band_hw, channels, row_slice, col)
                     for row_slice in slices for col in range(cols))
    # "w" and "h": a core row's block differs from column to column only in its columns
    idle = ((0, 0), (0, 0), (0, 0))
    blocks = []
    columns = [(split.col_bounds[col], split.col_bounds[col + 1]) for col in range(cols)]
    for row_slice in slices:
        if row_slice is None:
            blocks += [idle] * cols
            continue
        h, _, c = split._block(band_hw, channels, row_slice, 0)
        blocks += [(h, w, c) for w in columns]
    return tuple(blocks)


@dataclass(frozen=True)
class LayerMapping:
    """A layer's split, subvolume and DDR tiling, with what they cost."""

    shape: LayerShape
    split: Split
    sub: Subvolume
    ddr: DDRTiling
    rows: int
    cols: int
    on_array_s: float
    """memtile<->core plus compute seconds: exactly what the time model reports."""
    ddr_s: float
    """DDR seconds the mapping itself implies (its weights, and its bands when tiled
    through DDR); spills are decided later, by memtile coloring."""

    keeps_zeros: bool = False
    """A block-sparse layer run with its zero blocks (``shape`` is then dense)."""

    @property
    def estimate_s(self) -> float:
        return self.on_array_s + self.ddr_s


# --------------------------------------------------------------------------- split


SPLIT_MODES = ("w", "cout", "h")


def split_modes(shape: LayerShape, array: AIE2Array) -> tuple[str, ...]:
    """The splits worth searching: output rows over core rows only where every core row
    gets at least two of them (fewer leave rows idle or every core a sliver of windows
    that mostly overlap its neighbours'), and never for a single core row."""
    if array.rows > 1 and shape.out_hw[0] >= 2 * array.rows:
        return SPLIT_MODES
    return tuple(m for m in SPLIT_MODES if m != "h")


def row_part_counts(shape: LayerShape, array: AIE2Array, mode: str) -> tuple[int, ...]:
    """The output-row parts a split may form of the core rows: 1 and, for "w" and
    "cout", every count from 2 to one less than the rows that leaves each part two
    output rows or more (the ``R mod parts`` rows left over idle)."""
    if mode == "h":
        return (1,)
    return (1, *(p for p in range(2, array.rows) if shape.out_hw[0] >= 2 * p))


def choose_split(shape: LayerShape, array: AIE2Array, mode: str, rows: int | None = None,
                 band_rows: int | None = None, parts: int = 1) -> Split:
    """Over columns, the output width (``mode`` "w" and "h") or the output channels
    (``"cout"``: every core then holds different weights and reads the whole input);
    over rows, output channels ("w", "cout") or the ``band_rows`` output rows of a DDR
    pass ("h", the whole layer's by default). With ``rows``, only the first ``rows``
    core rows get work. With ``parts`` ("w"), the rows form that many output-row parts,
    each splitting the output channels over its ``R / parts`` rows."""
    unit = shape.channel_unit
    used = array.rows if rows is None else rows
    if parts > 1:
        slices = array.rows // parts
        if mode == "cout":
            cols = even_bounds(shape.cout, array.cols, unit)
            bounds = even_bounds(max(b - a for a, b in pairwise(cols)), slices, unit)
        else:
            cols = even_bounds(shape.out_hw[1], array.cols)
            bounds = even_bounds(shape.cout, slices, unit)
        return Split(mode, cols, bounds + (bounds[-1],) * (array.rows - slices), parts)
    if mode == "h":
        cols = even_bounds(shape.out_hw[1], array.cols)
        bounds = even_bounds(shape.out_hw[0] if band_rows is None else band_rows, used)
    elif mode == "w":
        cols = even_bounds(shape.out_hw[1], array.cols)
        bounds = even_bounds(shape.cout, used, unit)
    else:
        cols = even_bounds(shape.cout, array.cols, unit)
        bounds = even_bounds(max(b - a for a, b in pairwise(cols)), used, unit)
    return Split(mode, cols, bounds + (bounds[-1],) * (array.rows - used))


def split_plan(shape: LayerShape, array: AIE2Array, split: Split,
               sums_in_memtile: bool = False) -> ChannelPlan:
    """The channel plan (targets/aie2/channels.py) of a layer under ``split``."""
    return layer_plan(shape, array, split.column_mode, split.rows_in_use, sums_in_memtile,
                      split.parts)


def row_counts(shape: LayerShape, array: AIE2Array, mode: str) -> tuple[int, ...]:
    """Core rows a split may use: all of them and, when the memtiles' DMA channels are too
    few for every stream of that many rows (targets/aie2/channels.py), the most rows
    whose streams all get a channel of their own (the other rows idle)."""
    for rows in range(array.rows, 0, -1):
        try:
            unshared = layer_plan(shape, array, mode, rows).shares == UNSHARED
        except BsirError:
            return (array.rows,)
        if unshared:
            return (array.rows,) if rows == array.rows else (array.rows, rows)
    return (array.rows,)


def _core_extents(shape: LayerShape, split: Split, array: AIE2Array, band_rows: int
                  ) -> tuple[int, int, int, tuple[tuple[int, int], ...]]:
    """Tallest row slice, widest column slice, widest channel slice of any core in a DDR
    pass of ``band_rows`` output rows, and every core's channel range."""
    return _extents(split.core_blocks((band_rows, shape.out_hw[1]), shape.cout, array.rows,
                                      array.cols))


@lru_cache(maxsize=8192)
def _extents(blocks: tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...]
             ) -> tuple[int, int, int, tuple[tuple[int, int], ...]]:
    return (max(h1 - h0 for (h0, h1), _, _ in blocks), max(w1 - w0 for _, (w0, w1), _ in blocks),
            max(c1 - c0 for _, _, (c0, c1) in blocks), tuple(c for _, _, c in blocks))


# --------------------------------------------------------------------------- subvolume


@lru_cache(maxsize=1024)
def _chunk_candidates(total: int, unit: int) -> tuple[int, ...]:
    """Chunk sizes worth trying: ceil(total / k) in whole units, for every k."""
    units = ceil(total / unit)
    return tuple(sorted({min(total, ceil(units / k) * unit) for k in range(1, units + 1)},
                        reverse=True))


def _cin_candidates(shape: LayerShape) -> tuple[int, ...]:
    cin = shape.cin_per_group
    if not shape.weighted:
        return (cin,)
    unit = shape.block[1] if shape.block_row_nnz is not None else min(8, cin)
    return _chunk_candidates(cin, unit)


@lru_cache(maxsize=4096)
def _row_blocks(out_h: int, h_max: int) -> tuple[int, ...]:
    """Row-block heights worth trying: the most rows that fit and, when that leaves few
    blocks, a few more blocks: a group of one block runs its load, compute and store one
    after another, and padding gives the first and last block groups of their own."""
    blocks = ceil(out_h / h_max)
    if blocks > 3:
        return (h_max,)
    return tuple(sorted({ceil(out_h / count)
                         for count in range(blocks, min(out_h, blocks + 3) + 1)},
                        reverse=True))


def _rows_by_input(shape: LayerShape, in_rows: int) -> int:
    """The most output rows whose tile is at most ``in_rows`` input rows."""
    kh, sh, dh = shape.kernel[0], shape.stride[0], shape.dilation[0]
    if shape.gathers(0):
        return in_rows // kh
    return (in_rows - dh * (kh - 1) - 1) // sh + 1 if in_rows > dh * (kh - 1) else 0


@lru_cache(maxsize=8192)
def choose_subvolume(shape: LayerShape, split: Split, array: AIE2Array,
                     ddr: DDRTiling | None = None, plan: ChannelPlan | None = None,
                     sums_plan: ChannelPlan | None = None) -> tuple[Subvolume, float]:
    """The subvolume of least cost that fits the core buffers, and that cost: the
    memtile<->core and compute seconds of the whole layer (every DDR pass). Memoised:
    layers of one shape under other memtile budgets search the same subvolumes.

    Candidates are costed first by a relaxed rule (every iteration overlapped at its
    full input window), then, in that order, by the program the code generator emits
    (targets/aie2/program.py) under the time model's rules (targets/aie2/cost.py); the
    search stops when the relaxed cost of the next candidate exceeds the best exact
    cost (both of one DDR pass). Input-channel chunks (CIN-split: int32 partial sums
    stay in the core across the chunks, each chunk's weights loaded as it comes) are
    candidates like any other, except for grouped convolutions, where they are the last
    resort. With ``sums_plan`` (the channel plan when partial sums go through the
    memtile; given when the memtiles have room for them) the CIN-splits are also tried
    weight-stationary: each chunk's weights loaded once, every tile of the core streamed
    through them, its partial sums sent to the memtile and brought back with the next
    chunk's input.
    """
    ddr = ddr or DDRTiling()
    shares = plan.shares if plan is not None else UNSHARED
    sums_shares = sums_plan.shares if sums_plan is not None else None
    tallest, widest, deepest, ranges = _core_extents(shape, split, array,
                                                     ceil(shape.out_hw[0] / ddr.h_passes))
    out_h, widest, deepest = max(tallest, 1), max(widest, 1), max(deepest, 1)
    ranges = sorted(set(ranges))  # cores with the same channels weigh the same

    def exact(sub: Subvolume) -> float | None:
        """The cost of ``sub``'s program; None when its tiles overflow the DMA buffer
        descriptors."""
        program = stream_groups(shape, sub, ddr, split.row_parts)
        its_plan = sums_plan if sub.sums_in_memtile else plan
        if its_plan is not None and not _descriptors_fit(its_plan, *tile_sizes(program)):
            return None
        return sum(program_cost(program, sub, ddr, array,
                                its_plan.shares if its_plan is not None else UNSHARED))

    passes = ddr.passes  # relaxed costs are of one pass, exact ones of every pass

    def exact_per_pass(sub: Subvolume) -> float | None:
        cost = exact(sub)
        return None if cost is None else cost / passes

    candidates: list[Candidate] = []
    for allow_cin_split in (shape.groups == 1, True):
        candidates = _candidates(shape, array, out_h, widest, deepest, ranges,
                                 allow_cin_split, shares, sums_shares, exact_per_pass)
        if candidates:
            break
    if not candidates:
        raise _does_not_fit(shape, array)
    candidates.sort(key=itemgetter(0, 1))
    best: tuple[float, int, Subvolume] | None = None
    since_best = 0
    for relaxed, _, fields in candidates:
        if best is not None and (relaxed > best[0] / passes or since_best >= EXACT_PATIENCE):
            break
        since_best += 1
        sub = Subvolume(*fields)
        cost = exact(sub)
        if cost is None:
            continue
        key = (cost, sub.iterations, sub)
        if best is None or key[:2] < best[:2]:
            best, since_best = key, 0
    if best is None:  # every candidate overflows the DMA buffer descriptors
        assert plan is not None
        plan.check_descriptors(*tile_sizes(stream_groups(shape, Subvolume(*candidates[0][2]),
                                                         ddr, split.row_parts)))
    assert best is not None
    return best[2], best[0]


def tile_sizes(program: list[StreamGroup]) -> tuple[int, int]:
    """How many different input and output tile sizes a program's groups move at once
    (each needs a buffer descriptor of its own). Input-channel chunks whose partial sums
    go through the memtile run one after another, each after a halting weight load, so
    the descriptors are rewritten between them: the most any chunk position needs. A
    chunk whose partial sums stay in the core's scratch writes nothing."""
    positions: dict[str, list[StreamGroup]] = {}
    for group in program:
        positions.setdefault(group.phase.partition(".")[2], []).append(group)
    return (max((len({g.in_bytes for g in gs}) for gs in positions.values()), default=0),
            max((len({g.out_bytes for g in gs if g.out_bytes}) for gs in positions.values()),
                default=0))


@lru_cache(maxsize=4096)
def _descriptors_fit(plan: ChannelPlan, in_sizes: int, out_sizes: int) -> bool:
    """:meth:`ChannelPlan.fits`, memoised: many candidates share their tile counts."""
    return plan.fits(in_sizes, out_sizes)


def program_cost(program: list[StreamGroup], sub: Subvolume, ddr: DDRTiling,
                 array: AIE2Array, shares: Shares = UNSHARED) -> tuple[float, float]:
    """(memtile<->core, compute) seconds of the streamed groups ``program`` of ``sub``
    (:func:`~bsir.targets.aie2.program.stream_groups`), every pass, its transfers
    ``shares`` cores to a DMA channel."""
    groups = [group_time(g.in_bytes, g.macs, g.out_bytes, g.iterations, g.repeat, array,
                         shares)
              for g in program]
    loads = [(sub.weights_moved * ddr.passes, 1, shares.loadwdm)] if sub.weight_loads else []
    return on_array_s(loads, groups, array)


Candidate = tuple[float, int, tuple]
"""A subvolume the search may cost: (relaxed cost, iterations, the :class:`Subvolume`'s
fields in the order of :data:`CANDIDATE_FIELDS`), built only when costed exactly (most
never are)."""

CANDIDATE_FIELDS = ("h", "w", "cout", "cin", "in_h", "in_w", "input_bytes", "output_bytes",
                    "weight_bytes", "iterations", "weight_loads", "macs_per_iteration",
                    "cin_split", "sums_in_memtile", "sums_in_scratch", "columns_inside",
                    "weights_moved")
"""The order of a candidate's fields: :class:`Subvolume`'s (tested)."""

EXACT_EARLY = 0.9
"""While candidates are gathered, the one of least relaxed cost is costed exactly again
when its relaxed cost has fallen below this fraction of the last one costed."""

COUT_CHUNKS_PER_CIN = 4
"""For each input-channel chunk, the largest output-channel chunks that fit the core's
buffers that are costed: smaller ones only add weight loads and input re-streams, and buy rows
only where the output buffer binds, which a few steps down already shows."""

EXACT_PATIENCE = 24
"""Candidates are costed exactly in order of their relaxed cost; after this many in a row
that do not improve on the best, the rest (relaxed costs no lower) are not costed."""

RELAXED_SLACK = 3.5
"""A group costs at most the sum of its three stages, three times their maximum, so the
exact cost of the candidate of least relaxed cost is at most about three times that
relaxed cost; candidates whose relaxed cost is above this many times the least are never
costed exactly, and are not kept."""


def _candidates(shape: LayerShape, array: AIE2Array, out_h: int, widest: int, deepest: int,
                ranges: list[tuple[int, int]], allow_cin_split: bool, shares: Shares,
                sums_shares: Shares | None = None,
                exact: Callable[[Subvolume], float | None] | None = None) -> list[Candidate]:
    """Every subvolume worth costing that fits, with its relaxed cost (one pass): for
    each output-channel and input-channel chunk, the widest column chunk, and narrower
    ones only where they allow more rows; chunk pairs whose weight loads and MACs alone
    cost more than :data:`RELAXED_SLACK` times the least relaxed cost are skipped.
    With ``sums_shares``, every CIN-split is also offered with its partial sums in the
    memtile (their int32 tile rides in the input buffer with the input).

    With ``exact`` (a subvolume's exact cost, of one pass too), the candidate of least
    relaxed cost is costed exactly as the search goes, and candidates (and chunk pairs)
    whose relaxed cost exceeds both its relaxed and its exact cost are not kept: the
    search, which costs candidates in order of relaxed cost and stops at the first above
    the best exact one, reaches that candidate first and would never reach them."""
    link = array.link_bandwidth()
    in_link, w_link, out_link = (link / shares.loadfm, link / shares.loadwdm,
                                 link / shares.writefm)
    if sums_shares is not None:
        sums_links = (link / sums_shares.loadfm, link / sums_shares.loadwdm,
                      link / sums_shares.writefm)
    rate = array.macs_per_second
    found: list[Candidate] = []
    best = 0.0  # the least relaxed cost found
    n_cin_total = shape.cin_per_group
    widths = _chunk_candidates(widest, 1)
    in_w_of = {w: shape.tile_extent(1, w) for w in widths}
    in_h_of = lru_cache(maxsize=None)(lambda h: shape.tile_extent(0, h))
    taken: dict[int, int] = {}  # output-channel chunks costed per input-channel chunk
    ceiling = inf  # the larger of a candidate's relaxed and exact costs: none above it
    #                is ever costed
    costed = inf  # the relaxed cost of the last candidate costed exactly
    layout = CoreLayout.of(array)
    sums_room = layout.output_bytes + layout.scratch_bytes  # partial sums kept in the core
    rows_read = min(in_h_of(out_h), out_h)  # input rows all of a core's row blocks read
    # the fewest input columns the column chunks of a core read, all chunks together
    cols_read = min(ceil(widest / w) * in_w_of[w] for w in widths)
    # the fastest input link of any loop order (partial sums through the memtile use
    # another channel plan)
    pair_in_link = in_link if sums_shares is None else max(in_link, sums_links[0])
    input_read = rows_read * cols_read * shape.inputs  # bytes of a channel's input
    for cout in _chunk_candidates(deepest, shape.channel_unit):
        n_cout = ceil(deepest / cout)
        if found and n_cout * input_read * (shape.cin_per_group if shape.weighted else 1) \
                / pair_in_link > min(RELAXED_SLACK * best, ceiling):
            break  # every chunk streams the input again: smaller chunks only more often
        pieces = shape.pieces(ranges, cout)
        peak = pieces.peak_rate
        for cin in _cin_candidates(shape):
            cin_split = cin < n_cin_total
            if cin_split and not allow_cin_split:
                break
            if exact is not None and found and best < EXACT_EARLY * costed:
                costed, fields = min(found, key=itemgetter(0))[0::2]
                cost = exact(Subvolume(*fields))
                if cost is not None:
                    ceiling = min(ceiling, max(cost, costed))
            groups_spanned = 1 if shape.groups == 1 else min(
                shape.groups, ceil(cout / (shape.cout // shape.groups)) + 1)
            cin_in = cin * groups_spanned if shape.weighted else min(cout, shape.cin)
            if shape.kind == "eltwise" or shape.is_pool:
                cin_in = shape.cin if shape.rhs_depth else cout  # a product: whole rows
            if taken.get(cin, 0) >= COUT_CHUNKS_PER_CIN:
                continue
            weight_bytes = pieces.weight_bytes(cin)
            if weight_bytes > array.weight_buffer:
                continue
            moved = pieces.moved_bytes(cin)  # every channel chunk's, every CIN chunk's
            out_bytes = PARTIAL_SUM_BYTES if cin_split else 1
            n_chunks = ceil(n_cin_total / cin)  # pieces.macs spreads MACs over them
            n_cin = n_chunks if shape.weighted else 1
            compute = n_cout * n_cin * pieces.macs(out_h * widest, cin) / rate
            if found and moved / w_link + max(n_cout * n_cin * cin_in * input_read
                                              / pair_in_link, compute) \
                    > min(RELAXED_SLACK * best, ceiling):
                continue  # its loads, input and MACs alone exceed what the search would cost
            rows_seen = 0
            row_bytes_in = cin_in * shape.inputs
            gate = shape.gate_bytes(cout)
            stream_floor = n_cout * n_cin * cin_in * input_read  # every chunk's input
            # the widest column chunk whose sums (every row of the core) fit the core
            widest_sums = sums_room // (out_h * cout * PARTIAL_SUM_BYTES)
            if cin_split and shape.weighted and widest_sums:
                for w in (w for w in widths if w <= widest_sums):
                    n_w = ceil(widest / w)  # every column chunk loads the weights again
                    streamed = n_cout * n_cin * n_w * in_w_of[w] * row_bytes_in * rows_read
                    if found and n_w * moved / w_link + max(streamed / in_link, compute) \
                            > min(RELAXED_SLACK * best, ceiling):
                        break  # and narrower chunks would cost more still
                    scratch = _sums_in_scratch(
                        shape, array, layout, out_h, widest, w, in_w_of[w], cout, cin,
                        n_cout, n_chunks, peak, row_bytes_in, gate, (weight_bytes, moved),
                        (in_link, w_link, out_link), in_h_of)
                    if scratch:  # the widest whose sums fit: narrower only reload more
                        kept = [candidate for candidate in scratch if candidate[0] <= ceiling]
                        if kept:
                            least = min(candidate[0] for candidate in kept)
                            best = min(best, least) if found else least
                            found.extend(kept)
                        break
                if widest_sums >= widest:  # every tile's sums fit: columns inside too
                    found.extend(_columns_inside(
                        shape, array, layout, out_h, widest, widths, in_w_of, cout, cin,
                        n_cout, n_chunks, peak, row_bytes_in, gate, (weight_bytes, moved),
                        (in_link, w_link, out_link), in_h_of,
                        min(RELAXED_SLACK * best, ceiling) if found else inf))
            if found and cin_split and shape.weighted:
                # the loop below offers a weight load before every step (its floor: the
                # loads, then the input, then the MACs) and, with room in the memtiles,
                # the partial sums there: where neither floor is below what the search
                # would cost, it is skipped, only counting the pair if it fits (the
                # narrowest column chunk fits if any does)
                limit = min(RELAXED_SLACK * best, ceiling)
                if moved / w_link + stream_floor / in_link + compute > limit and (
                        sums_shares is None or moved / sums_links[1]
                        + max(stream_floor / sums_links[0], compute) > limit):
                    if _tallest_tile(shape, array, in_h_of, out_h, widths[-1],
                                     in_w_of[widths[-1]], cout, row_bytes_in, gate, out_bytes):
                        taken[cin] = taken.get(cin, 0) + 1
                    continue
            for w in widths:
                in_w = in_w_of[w]
                h_max = _tallest_tile(shape, array, in_h_of, out_h, w, in_w, cout,
                                      row_bytes_in, gate, out_bytes)
                if h_max <= rows_seen:
                    continue  # narrower, no more rows: only more iterations
                if not rows_seen:  # this chunk pair fits the core's buffers
                    taken[cin] = taken.get(cin, 0) + 1
                rows_seen = h_max
                # what any of its candidates costs at least: every column chunk's input
                # rows read once, every chunk; the MACs; the weights, loaded again for
                # every tile when each step loads its own (and then nothing overlaps)
                n_w = ceil(widest / w)
                streamed = n_cout * n_cin * n_w * in_w * row_bytes_in * rows_read
                limit = min(RELAXED_SLACK * best, ceiling) if found else inf
                if cin_split and shape.weighted:
                    floor = moved * n_w * ceil(out_h / h_max) / w_link + streamed / in_link \
                        + compute
                else:
                    floor = moved / w_link + max(streamed / in_link, compute)
                for h in _row_blocks(out_h, h_max) if floor <= limit else ():
                    in_h = in_h_of(h)
                    n_spatial = ceil(out_h / h) * n_w
                    iterations = n_spatial * n_cout * n_cin
                    weight_loads = weights_moved = 0
                    if shape.weighted:  # with a CIN-split, every tile reloads
                        weight_loads = iterations if cin_split else n_cout
                        weights_moved = moved * n_spatial if cin_split else moved
                    macs = ceil(round(peak * (h * w)) / n_chunks)
                    input_bytes = in_h * in_w * row_bytes_in + gate
                    output_bytes = h * w * cout
                    stages = ((input_bytes + shape.residual_bytes(h, w, cout)) / in_link,
                              macs / rate, output_bytes / out_link / n_cin)
                    # a weight load before every step (CIN-split), or one tile between
                    # loads: nothing overlaps
                    alone = cin_split or n_spatial == 1
                    step = sum(stages) if alone else max(stages)
                    relaxed = iterations * step + weights_moved / w_link
                    if found and (relaxed > RELAXED_SLACK * best or relaxed > ceiling):
                        continue
                    best = min(best, relaxed) if found else relaxed
                    found.append((relaxed, iterations, (
                        h, w, cout, cin, in_h, in_w, input_bytes, output_bytes, weight_bytes,
                        iterations, weight_loads, macs, cin_split, False, False, False,
                        weights_moved)))
                if cin_split and shape.weighted and sums_shares is not None \
                        and moved / sums_links[1] + max(streamed / sums_links[0], compute) \
                        <= limit:
                    found.extend(candidate for candidate in _sums_in_memtile(
                        shape, array, out_h, widest, w, in_w, h_max, cout, cin, n_cout,
                        n_chunks, peak, row_bytes_in, gate, (weight_bytes, moved), sums_links,
                        in_h_of) if candidate[0] <= ceiling)
                if h_max >= out_h:
                    break  # every row in one block: narrower only adds iterations
    return found


def _tallest_tile(shape: LayerShape, array: AIE2Array, in_h_of: Callable[[int], int],
                  out_h: int, w: int, in_w: int, cout: int, row_bytes_in: int, gate: int,
                  out_bytes: int) -> int:
    """The most output rows (at most ``out_h``) of a ``w``-column, ``cout``-channel tile
    whose input fits the input buffer and whose output, ``out_bytes`` an element, fits
    the output buffer (0 when none does)."""
    h_max = min(out_h, _rows_by_input(shape, (array.input_buffer - gate) // (in_w * row_bytes_in)),
                array.output_buffer // (w * cout * out_bytes))
    if shape.rhs_depth:  # a product of activations: one head a tile (its right operand)
        h_max = min(h_max, 1)
    return _rows_that_fit(shape, array, in_h_of, h_max, w, in_w, cout, row_bytes_in, gate)


def _rows_that_fit(shape: LayerShape, array: AIE2Array, in_h_of: Callable[[int], int],
                   h_max: int, w: int, in_w: int, cout: int, row_bytes_in: int, gate: int,
                   sum_bytes: int = 0) -> int:
    """The most rows, at most ``h_max``, whose input tile fits the input buffer with
    what rides along: ``sum_bytes`` of partial sums an output, a fused addition's
    residual."""
    h, room = h_max, array.input_buffer - gate
    per_row = w * cout * sum_bytes + shape.residual_bytes(1, w, cout)  # both scale with rows
    while h and in_h_of(h) * in_w * row_bytes_in + h * per_row > room:
        h -= 1
    return h


def _sums_in_memtile(shape: LayerShape, array: AIE2Array, out_h: int, widest: int, w: int,
                     in_w: int, h_max: int, cout: int, cin: int, n_cout: int, n_chunks: int,
                     peak: float, row_bytes_in: int, gate: int, weights: tuple[int, int],
                     links: tuple[float, float, float], in_h_of: Callable[[int], int]
                     ) -> list[Candidate]:
    """The weight-stationary CIN-split of one chunk pair and column chunk, its partial
    sums through the memtile: the most rows whose input and partial sums fit the input
    buffer (at most ``h_max``, what the output buffer allows), with its relaxed cost.
    ``weights``: the largest weight load, and the bytes of one sequence of them."""
    in_link, w_link, out_link = links
    weight_bytes, moved = weights
    # the last chunk brings the sums (and a fused addition's residual) with its input
    h = _rows_that_fit(shape, array, in_h_of, h_max, w, in_w, cout, row_bytes_in, gate,
                       PARTIAL_SUM_BYTES)
    if not h:
        return []
    in_h = in_h_of(h)
    input_bytes = in_h * in_w * row_bytes_in + gate
    sums = h * w * cout * PARTIAL_SUM_BYTES
    iterations = ceil(out_h / h) * ceil(widest / w) * n_cout * n_chunks
    macs = ceil(round(peak * (h * w)) / n_chunks)
    step = max((input_bytes + sums) / in_link, macs / array.macs_per_second, sums / out_link)
    # (the last chunk's residual, if any, is in the exact cost of the program)
    loads = n_cout * n_chunks
    relaxed = iterations * step + moved / w_link
    return [(relaxed, iterations, (h, w, cout, cin, in_h, in_w, input_bytes, sums,
                                   weight_bytes, iterations, loads, macs, True, True, False,
                                   False, moved))]


def _sums_in_scratch(shape: LayerShape, array: AIE2Array, layout: CoreLayout, out_h: int,
                     widest: int, w: int, in_w: int, cout: int, cin: int, n_cout: int,
                     n_chunks: int, peak: float, row_bytes_in: int, gate: int,
                     weights: tuple[int, int], links: tuple[float, float, float],
                     in_h_of: Callable[[int], int]) -> list[Candidate]:
    """The weight-stationary CIN-split of one chunk pair and column chunk whose partial
    sums stay in the core (in slots over its output buffers and scratch memory,
    :class:`~bsir.targets.aie2.hardware.CoreLayout`): for each output-channel chunk and
    column chunk, the input-channel chunks' weights each load once and every row block
    of the column chunk streams through them. Every row-block height whose row blocks'
    int32 sums each get a slot, and whose input (with a fused addition's residual) fits
    the input buffer and int8 output the output buffer; with their relaxed costs.
    ``weights``: the largest weight load, and the bytes of one sequence of them."""
    in_link, w_link, out_link = links
    weight_bytes, moved = weights
    n_w = ceil(widest / w)
    h_max = _tallest_tile(shape, array, in_h_of, out_h, w, in_w, cout, row_bytes_in, gate, 1)
    found = []
    for h in _row_blocks(out_h, h_max) if h_max else ():
        blocks = ceil(out_h / h)
        if blocks > layout.sum_slots(h * w * cout * PARTIAL_SUM_BYTES):
            continue
        n_spatial = blocks * n_w
        in_h = in_h_of(h)
        input_bytes = in_h * in_w * row_bytes_in + gate
        output_bytes = h * w * cout
        iterations = n_spatial * n_cout * n_chunks
        macs = ceil(round(peak * (h * w)) / n_chunks)
        stages = (input_bytes / in_link, macs / array.macs_per_second)
        # a chunk of one row block runs its load and compute one after the other
        step = sum(stages) if blocks == 1 else max(stages)
        loads = n_cout * n_w * n_chunks  # every column chunk reloads the sequence
        # only the last chunk writes: where its output outlasts the input and the MACs
        relaxed = iterations * step + n_w * moved / w_link \
            + n_spatial * n_cout * max(0.0, output_bytes / out_link - step)
        found.append((relaxed, iterations, (h, w, cout, cin, in_h, in_w, input_bytes,
                                            output_bytes, weight_bytes, iterations, loads,
                                            macs, True, False, True, False, n_w * moved)))
    return found


def _columns_inside(shape: LayerShape, array: AIE2Array, layout: CoreLayout, out_h: int,
                    widest: int, widths: tuple[int, ...], in_w_of: dict[int, int], cout: int,
                    cin: int, n_cout: int, n_chunks: int, peak: float, row_bytes_in: int,
                    gate: int, weights: tuple[int, int], links: tuple[float, float, float],
                    in_h_of: Callable[[int], int], limit: float = inf) -> list[Candidate]:
    """The weight-stationary CIN-split with the partial sums in the core and the column
    chunks inside the chunk loop: each input-channel chunk's weights load once, and
    every column chunk of the core, all its rows at once (no row block, so no halo
    rows read twice: a 7x1 kernel reads each input element once), streams through
    them. For every column chunk narrower than the core whose whole-height tile fits
    the buffers and whose tiles' int32 sums all get a slot, and whose relaxed cost is at
    most ``limit``; with their relaxed costs."""
    in_link, w_link, out_link = links
    weight_bytes, moved = weights
    found = []
    in_h = in_h_of(out_h)
    for w in widths:
        n_w = ceil(widest / w)
        if n_w < 2:
            continue
        in_w = in_w_of[w]
        input_bytes = in_h * in_w * row_bytes_in + gate
        output_bytes = out_h * w * cout
        iterations = n_w * n_cout * n_chunks
        macs = ceil(round(peak * (out_h * w)) / n_chunks)
        step = max(input_bytes / in_link, macs / array.macs_per_second)
        # only the last chunk writes: where its output outlasts the input and the MACs
        relaxed = iterations * step + moved / w_link \
            + n_w * n_cout * max(0.0, output_bytes / out_link - step)
        if relaxed > limit or n_w > layout.sum_slots(out_h * w * cout * PARTIAL_SUM_BYTES) \
                or _tallest_tile(shape, array, in_h_of, out_h, w, in_w, cout, row_bytes_in,
                                 gate, 1) < out_h:
            continue
        found.append((relaxed, iterations, (out_h, w, cout, cin, in_h, in_w, input_bytes,
                                            output_bytes, weight_bytes, iterations,
                                            n_cout * n_chunks, macs, True, False, True, True,
                                            moved)))
    return found


@dataclass(frozen=True)
class SumsLayout:
    """Where a DDR pass keeps every core's int32 partial sums between input-channel
    chunks: a region per core on its column's activation memtile (the memtile that
    streams them), holding the core's whole block of the pass row-major (h, w, c), 4
    bytes a value; the regions of the cores a memtile serves lie one after another."""

    array: AIE2Array
    height: int      # the tallest, widest and deepest core block of the pass
    width: int
    channels: int

    @property
    def region_bytes(self) -> int:
        return self.height * self.width * self.channels * PARTIAL_SUM_BYTES

    def memtile_of(self, col: int) -> int:
        """Index among the activation memtiles of the one serving core column ``col``."""
        return self.array.column_memtile(col)

    def slot(self, row: int, col: int) -> int:
        """The core's region among those on its memtile."""
        cols = self.array.cols
        first = next(c for c in range(cols) if self.memtile_of(c) == self.memtile_of(col))
        return (col - first) * self.array.rows + row

    @cached_property
    def tile_bytes(self) -> int:
        """Bytes on the busiest memtile."""
        return self.array.columns_per_memtile * self.array.rows * self.region_bytes

    def locate(self, row: int, col: int, hh: np.ndarray, ww: np.ndarray, cc: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """(memtile index, byte offset) of the 4 bytes of each partial sum (h, w, c)
        relative to the core's block: index arrays with a last axis of 4."""
        base = self.slot(row, col) * self.region_bytes
        value = (hh * self.width + ww) * self.channels + cc
        offset = base + value[..., None] * PARTIAL_SUM_BYTES + np.arange(PARTIAL_SUM_BYTES)
        return np.full(offset.shape, self.memtile_of(col)), offset


@lru_cache(maxsize=8192)
def sums_layout(shape: LayerShape, split: Split, array: AIE2Array, ddr: DDRTiling
                ) -> SumsLayout:
    """The partial sums' layout of a DDR pass of ``shape`` (a whole layer; its COUT band
    is taken here) split as ``split``. Memoised."""
    band = band_shape(shape, ddr.cout_passes)
    tallest, widest, deepest, _ = _core_extents(band, split, array,
                                                ceil(shape.out_hw[0] / ddr.h_passes))
    return SumsLayout(array, tallest, widest, deepest)


def _does_not_fit(shape: LayerShape, array: AIE2Array) -> BsirError:
    """Name the core buffer that even the smallest subvolume overflows, and by how much."""
    unit = min(shape.channel_unit, shape.cout)
    cin = min(_cin_candidates(shape)) if shape.weighted else unit
    needs = [
        ("weight", shape.weight_bytes(0, unit, cin) if shape.weighted else 0,
         array.weight_buffer),
        ("input", shape.tile_extent(0, 1) * shape.tile_extent(1, 1) * cin * shape.inputs,
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
    if shape.source is not None:  # a gather reads its whole input in its one pass
        return (Distribution(*shape.source, tiles),
                Distribution(band_out_h, shape.out_hw[1], shape.cout, tiles))
    band_in_h = min(shape.in_hw[0], window(band_out_h, shape.kernel[0], shape.stride[0],
                                           shape.dilation[0]))
    cout_band = band_channels(shape, ddr.cout_passes)
    cin = shape.cin if shape.weighted else min(shape.cin, cout_band)
    return (Distribution(band_in_h, shape.in_hw[1], cin, tiles),
            Distribution(band_out_h, shape.out_hw[1], cout_band, tiles))


def band_bytes(shape: LayerShape, array: AIE2Array,
               ddr: DDRTiling) -> tuple[int, int, int]:
    """Bytes one DDR pass keeps on the busiest memtile: (input bands, output band,
    weights). Each input band is aligned; an element-wise layer writes its output over
    its first input, a layer with a fused addition over its residual."""
    one_input, output = band_distributions(shape, array, ddr)
    tiles = len(array.activation_memtiles)
    per_tile_in = align(one_input.tile_bytes) * shape.inputs \
        + ceil(shape.other_input_bytes / tiles)
    if shape.residual:  # a fused addition's residual: the output is written over it
        per_tile_in += align(output.tile_bytes)
    per_tile_out = 0 if shape.kind == "eltwise" or shape.residual else output.tile_bytes
    return per_tile_in, per_tile_out, band_weight_bytes(shape, array, ddr)


@lru_cache(maxsize=8192)
def memtile_demand(shape: LayerShape, array: AIE2Array,
                   ddr: DDRTiling) -> tuple[int, int, int]:
    """Bytes one activation memtile and one weight memtile need for one DDR pass:
    (activation bytes, weight bytes, total on the busiest memtile). Memoised."""
    per_tile_in, per_tile_out, weights = band_bytes(shape, array, ddr)
    act = align(per_tile_in) + align(per_tile_out)
    weights = align(weights) if weights else 0
    busiest = act + weights if array.memtile_mode == "shared" else max(act, weights)
    return act, weights, busiest


@lru_cache(maxsize=4096)
def ddr_tilings(shape: LayerShape, array: AIE2Array,
                budget: int | None = None, count: int = 3) -> tuple[DDRTiling, ...]:
    """The ``count`` DDR tilings of least DDR traffic whose working set fits ``budget``
    bytes per memtile: for each number of channel bands, the fewest row bands that fit
    (the input is read once per channel band, the weights once per row band). A layer
    that fits in one pass gets that one. Memoised (a split does not change them)."""
    budget = array.memtile_bytes if budget is None else budget
    whole = memtile_demand(shape, array, DDRTiling())[2]
    if whole <= budget:
        return (DDRTiling(),)  # the layer fits: no DDR tiling can beat none
    if shape.gather is not None or shape.rhs_depth:
        raise BsirError(f"memtile overflows by {whole - budget} bytes: a transpose, slice or "
                        f"product of activations is not tiled through DDR ({whole} needed, "
                        f"{budget} available)")
    fitting: list[tuple[int, int, DDRTiling]] = []
    max_h = max(shape.out_hw[0], 1)
    # channel bands of grouped layers (depthwise) are not built: row bands only
    max_c = max(ceil(shape.cout / shape.channel_unit), 1) if shape.groups == 1 else 1
    for cout_passes in _pass_counts(max_c):
        for h_passes in _pass_counts(max_h):
            ddr = DDRTiling(h_passes, cout_passes)
            _, _, busiest = memtile_demand(shape, array, ddr)
            if busiest <= budget:
                traffic = shape.input_bytes * cout_passes \
                    + shape.total_weight_bytes * h_passes
                fitting.append((traffic, ddr.passes, ddr))
                break
    if not fitting:
        _, _, need = memtile_demand(shape, array, DDRTiling(max_h, max_c))
        raise BsirError(
            f"memtile overflows by {need - budget} bytes even with the layer tiled into "
            f"{max_h} row bands and {max_c} channel bands ({need} needed, {budget} available)"
        )
    fitting.sort(key=lambda item: item[:2])
    return tuple(ddr for _, _, ddr in fitting[:count])


@lru_cache(maxsize=1024)
def _pass_counts(limit: int) -> tuple[int, ...]:
    """1, 2, 3, ... up to ``limit``, skipping counts that give the same band size."""
    counts, sizes = [], set()
    for k in range(1, limit + 1):
        size = ceil(limit / k)
        if size not in sizes:
            sizes.add(size)
            counts.append(k)
    return tuple(counts)


def band_channels(shape: LayerShape, cout_passes: int) -> int:
    """Output channels of one COUT band (whole block rows when sparse)."""
    unit = shape.channel_unit
    return min(shape.cout, ceil(ceil(shape.cout / unit) / cout_passes) * unit)


@lru_cache(maxsize=4096)
def band_shape(shape: LayerShape, cout_passes: int) -> LayerShape:
    """The layer restricted to one COUT band. When sparse, its mask holds every band's
    (:meth:`~bsir.targets.aie2.geometry.BlockMask.in_bands`): its block row i counts
    the most blocks row i keeps in any band, a bound that holds for every pass, and
    the weight loads are those of each band. Memoised: one band object per layer and
    pass count, which the search's memo tables then find at once."""
    if cout_passes == 1:
        return shape
    channels = band_channels(shape, cout_passes)
    mask = shape.block_mask
    if mask is not None:
        mask = mask.in_bands(max(1, channels // shape.block[0]))
    return replace(shape, cout=channels, block_mask=mask)


@lru_cache(maxsize=8192)
def band_weight_bytes(shape: LayerShape, array: AIE2Array, ddr: DDRTiling) -> int:
    """Weight bytes one DDR pass keeps on each weight memtile: those of the fullest COUT
    band (every band fits that bound), spread over the weight memtiles; 0 unweighted.
    Memoised."""
    if not shape.weighted:
        return 0
    band = band_shape(shape, ddr.cout_passes).weight_bytes(
        0, band_channels(shape, ddr.cout_passes))
    return ceil(band / len(array.weight_memtiles))


def resident_demand(shape: LayerShape, array: AIE2Array, ddr: DDRTiling
                    ) -> int:
    """Bytes on the busiest memtile when the layer keeps its activations resident whole
    (its input and its whole output) and loads one COUT band of weights at a time: what
    memtile coloring does with a layer tiled into COUT bands only when they fit."""
    per_in, per_out, _ = band_bytes(shape, array, DDRTiling())
    act = align(per_in) + align(per_out)
    weights = band_weight_bytes(shape, array, ddr)
    weights = align(weights) if weights else 0
    return act + weights if array.memtile_mode == "shared" else max(act, weights)


def mapping_ddr_s(shape: LayerShape, array: AIE2Array, ddr: DDRTiling,
                  resident: bool = False) -> float:
    """DDR seconds a mapping implies by itself: its weights (one COUT band per pass)
    and, when tiled through DDR, a band of each input (a fused addition's residual: a
    band of the output's shape) in and of the output out; only the weights when the
    activations stay ``resident`` (COUT bands that fit whole)."""
    load_bw, store_bw = array.ddr_load_bandwidth(), array.ddr_store_bandwidth()
    loadw = band_weight_bytes(shape, array, ddr) * ddr.passes / load_bw
    if ddr.passes == 1 or resident:
        return loadw
    in_band, out_band = band_distributions(shape, array, ddr)
    residual = out_band.tile_bytes if shape.residual else 0
    load = (in_band.tile_bytes * shape.inputs + residual) * ddr.passes / load_bw
    return max(load, loadw) + out_band.tile_bytes * ddr.passes / store_bw


@lru_cache(maxsize=4096)
def map_layer(shape: LayerShape, array: AIE2Array, budget: int | None = None,
              sums_budget: int | None = None, row_parts: bool = True) -> LayerMapping:
    """The least-cost split, subvolume and DDR tiling of one layer; with COUT bands, the
    split and the subvolume are those of one band (each pass computes one).

    Each split mode, on every core row and (where the memtiles' DMA channels are too
    few for every stream) on as many rows as they serve unshared, is tried with the few
    DDR tilings of least traffic that fit it, and the mapping of least cost (on the
    array, and in DDR for its own transfers) is kept.
    Partial sums go through the memtile only where they fit beside the pass's own
    buffers within ``sums_budget`` bytes a memtile (``budget`` by default; the room
    other live tensors leave, see :func:`~bsir.targets.aie2.layout.bytes_live_across`).
    A block-sparse layer runs with its zeros, uncompacted (``keeps_zeros``), when that
    costs less than computing only its kept blocks: sparsity never makes a layer slower.
    A pure function of frozen values, so it is memoised: networks repeat layer shapes
    (ResNet50 has 72 layers of 23 shapes) and Table 2 maps each network seven times.
    Without ``row_parts`` the core rows never split output rows beside channels (the
    paper's splits only: "w", "cout" and "h")."""
    best = _search(shape, array, budget, sums_budget, row_parts=row_parts)
    assert best is not None
    if shape.block_row_nnz is None:
        return best
    # sparse never slower: with its zeros, uncompacted, when that is faster (only worth
    # a search when the dense layer's lower bound leaves it a chance, and only among
    # the mappings whose floors do)
    dense_shape = replace(shape, block_mask=None)
    if layer_bound(dense_shape, array).seconds >= best.estimate_s:
        return best
    try:
        dense = _search(dense_shape, array, budget, sums_budget, below=best.estimate_s,
                        row_parts=row_parts)
    except BsirError:
        return best
    return replace(dense, keeps_zeros=True) if dense is not None else best


def forget_searches() -> None:
    """Drop every memoised search result (:func:`map_layer`, :func:`choose_subvolume`,
    :func:`fusion_pays`, the options searched): for a caller that changes the search
    space itself, as tests restricting it to hand-worked loop orders do."""
    for memo in (map_layer, choose_subvolume, _options, fusion_pays):
        memo.cache_clear()


SearchOption = tuple[DDRTiling, LayerShape, Split]
"""One option of a layer's search: a DDR tiling, the COUT band it computes per pass, and
the band's split over the cores."""


@lru_cache(maxsize=4096)
def _options(shape: LayerShape, array: AIE2Array, budget: int | None,
             sums_budget: int | None, row_parts: bool) -> tuple[SearchOption | BsirError, ...]:
    """Every option :func:`map_layer` searches, in a fixed order: each split mode, on
    every core row and (where the memtiles' DMA channels are too few for every stream)
    on as many rows as they serve unshared, and with every row-part count, under each
    of the few DDR tilings of least traffic that fit (an error where none fits).
    Memoised: the layers of one geometry searched with their zeros (see
    :func:`map_layer`) list the same options."""
    options: list[SearchOption | BsirError] = []
    for mode, rows, parts in ((split_mode, used, count)
                              for split_mode in split_modes(shape, array)
                              for count in (row_part_counts(shape, array, split_mode)
                                            if row_parts else (1,))
                              for used in (row_counts(shape, array, split_mode)
                                           if count == 1 else (array.rows,))):
        whole = choose_split(shape, array, mode, parts=parts)
        try:
            tilings = [*ddr_tilings(shape, array, budget)]
        except BsirError as error:
            options.append(error)
            continue
        if shape.weighted and tilings == [DDRTiling()]:
            tilings += _bands_for_sums(shape, whole, array,
                                       budget if sums_budget is None else sums_budget)
        for ddr in tilings:
            band = band_shape(shape, ddr.cout_passes)
            options.append((ddr, band, choose_split(band, array, mode, rows,
                                                    ceil(shape.out_hw[0] / ddr.h_passes),
                                                    parts)))
    return tuple(options)


def _option_mapping(shape: LayerShape, array: AIE2Array, budget: int | None,
                    sums_budget: int | None, option: SearchOption) -> LayerMapping:
    """The least-cost mapping of one option (its subvolume searched; partial sums in the
    memtile offered where they fit); raises :class:`BsirError` where none fits."""
    ddr, band, split = option
    plan = split_plan(band, array, split)
    sums_plan = None
    if shape.weighted and _sums_fit(shape, split, array, ddr,
                                     budget if sums_budget is None else sums_budget):
        sums_plan = split_plan(band, array, split, True)
    sub, on_array = choose_subvolume(band, split, array, ddr, plan, sums_plan)
    resident = _stays_resident(shape, split, array, ddr, sub, budget, sums_budget)
    return LayerMapping(shape, split, sub, ddr, array.rows, array.cols, on_array,
                        mapping_ddr_s(shape, array, ddr, resident))


def _search(shape: LayerShape, array: AIE2Array, budget: int | None,
            sums_budget: int | None, below: float | None = None, row_parts: bool = True
            ) -> LayerMapping | None:
    """:func:`map_layer`'s search of one shape; with ``below``, only mappings that cost
    less (None when none does). Options are tried in order of their floors (a floor is
    at most any mapping's cost) until a floor reaches the best cost found."""
    best: LayerMapping | None = None
    failures: list[tuple[int, BsirError]] = []  # the first option's error is reported
    options = []  # (floor, order, option): the cheapest floors first
    for option in _options(shape, array, budget, sums_budget, row_parts):
        if isinstance(option, BsirError):
            failures.append((len(options), option))
            continue
        ddr, band, split = option
        floor = _split_floor_s(band, split, array, ddr) \
            + mapping_ddr_s(shape, array, ddr, resident=True)
        options.append((floor, len(options), option))
    options.sort(key=lambda option: option[:2])
    for floor, order, option in options:
        limit = best.estimate_s if best is not None else inf if below is None else below
        if floor >= limit:
            break  # every mapping left costs at least its floor
        try:
            mapping = _option_mapping(shape, array, budget, sums_budget, option)
        except BsirError as error:
            failures.append((order, error))
            continue
        if mapping.estimate_s < limit:
            best = mapping
    if best is None and below is None:
        assert failures
        # (an option's error is memoised with its options: raised without the traceback
        # of an earlier raise)
        raise min(failures, key=lambda failure: failure[0])[1].with_traceback(None)
    return best


@lru_cache(maxsize=8192)
def _split_floor_s(band: LayerShape, split: Split, array: AIE2Array, ddr: DDRTiling
                     ) -> float:
    """A floor under the memtile<->core and compute time of any subvolume of a split
    (what the search is ordered and cut by): every pass, each core loads the weights of
    all its channels at least once (LOADWDM halts; a shared channel only makes it
    longer), then streams the input its block reads (every input channel, when the
    layer has no groups; a pool or element-wise layer's core the channels it writes;
    with a fused addition, the residual of its outputs) at least once and computes its
    MACs, overlapped at best. Weights and input move at the link's rate divided by the
    cores that take turns on their channel under the split's plain channel plan (partial
    sums through the memtile add streams, so their plan shares no fewer)."""
    band_hw = (ceil(band.out_hw[0] / ddr.h_passes), band.out_hw[1])
    rate = array.macs_per_second
    try:
        shares = split_plan(band, array, split).shares
    except BsirError:  # the option fails when costed; any floor will do
        shares = UNSHARED
    in_link = array.link_bandwidth() / shares.loadfm
    w_link = array.link_bandwidth() / shares.loadwdm
    per_position = band.cin * band.inputs if band.groups == 1 else 0

    def read(axis: int, o0: int, o1: int) -> int:
        """Input positions outputs [o0, o1) read along ``axis``, padding excluded."""
        return covered(band.in_hw[axis], o1, band.kernel[axis], band.stride[axis],
                       band.dilation[axis], band.pad[axis], o0)

    slowest = 0.0
    blocks = _busy_blocks(split, band_hw, band.cout, array.rows, array.cols)
    # cores share row, column and channel ranges: each is worked out once
    rows = {h: read(0, *h) for h in {h for h, _, _ in blocks}}
    cols = {w: read(1, *w) for w in {w for _, w, _ in blocks}}
    if not band.weighted:  # its input, the channels it writes, at least once
        for h, w, (c0, c1) in blocks:
            slowest = max(slowest, rows[h] * cols[w] * (c1 - c0) * band.inputs / in_link)
        return ddr.passes * slowest
    channels = {c: (band.weight_bytes(*c) / w_link, band.peak_rate(*c),
                    band.residual_bytes(1, 1, c[1] - c[0]))  # the residual scales with positions
                for c in {c for _, _, c in blocks}}
    for (h0, h1), (w0, w1), c in blocks:
        load_s, peak, residual = channels[c]
        streamed = (rows[h0, h1] * cols[w0, w1] * per_position
                    + residual * (h1 - h0) * (w1 - w0)) / in_link
        computed = peak * (h1 - h0) * (w1 - w0) / rate
        core_s = load_s + (computed if computed > streamed else streamed)
        if core_s > slowest:
            slowest = core_s
    return ddr.passes * slowest


@lru_cache(maxsize=8192)
def _busy_blocks(split: Split, band_hw: tuple[int, int], channels: int, rows: int, cols: int
                 ) -> tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...]:
    """The different blocks of :meth:`Split.core_blocks` that hold some output."""
    blocks = dict.fromkeys(split.core_blocks(band_hw, channels, rows, cols))
    return tuple(block for block in blocks if all(end > start for start, end in block))


def map_layer_among(shape: LayerShape, array: AIE2Array, others: int,
                    row_parts: bool = True) -> LayerMapping:
    """:func:`map_layer` for a layer of a network across which other tensors hold
    ``others`` bytes a memtile (:func:`~bsir.targets.aie2.layout.bytes_live_across`):
    partial sums kept in the memtile must leave them room."""
    return map_layer(shape, array, sums_budget=array.memtile_bytes - others,
                     row_parts=row_parts)


@lru_cache(maxsize=1024)
def fusion_pays(host: LayerShape, add: LayerShape, array: AIE2Array, host_others: int,
                add_others: int, fused_others: int, row_parts: bool = True) -> bool:
    """Does the layer ``host`` with the addition ``add`` fused into it (reading the
    addition's other operand as its residual) cost less than the two layers apart?
    Each is mapped among the bytes other tensors hold across it (``host_others``,
    ``add_others`` apart, ``fused_others`` fused; as :func:`map_layer_among`); False
    where any of the three does not map. Memoised: a network's repeated blocks ask the
    same, and the fused layer's search is the one its mapping will ask."""
    try:
        apart = map_layer_among(host, array, host_others, row_parts).estimate_s \
            + map_layer_among(add, array, add_others, row_parts).estimate_s
        together = map_layer_among(replace(host, residual=True), array, fused_others,
                                   row_parts)
    except BsirError:
        return False
    return together.estimate_s < apart


def _sums_fit(shape: LayerShape, split: Split, array: AIE2Array, ddr: DDRTiling,
              budget: int | None) -> bool:
    """Do the activation memtiles have room for a DDR pass's partial sums beside the
    bands the pass keeps there? (Where the whole activations cannot stay resident
    beside them, memtile coloring streams the layer's bands through DDR.)"""
    act, weights, _ = memtile_demand(shape, array, ddr)
    used = act + weights if array.memtile_mode == "shared" else act
    room = (array.memtile_bytes if budget is None else budget) - used
    return align(sums_layout(shape, split, array, ddr).tile_bytes) <= room


def _stays_resident(shape: LayerShape, split: Split, array: AIE2Array, ddr: DDRTiling,
                    sub: Subvolume, budget: int | None, sums_budget: int | None) -> bool:
    """Will memtile coloring keep a layer without row bands resident whole (input and
    output; a COUT band of weights at a time, and its partial sums when it keeps them in
    the memtile), rather than stream its bands through DDR?"""
    if ddr.h_passes != 1:
        return False
    need = resident_demand(shape, array, ddr)
    if need > (array.memtile_bytes if budget is None else budget):
        return False
    if not sub.sums_in_memtile:
        return True
    room = array.memtile_bytes if sums_budget is None else sums_budget
    return need + align(sums_layout(shape, split, array, ddr).tile_bytes) <= room


SUMS_BANDS = (2, 3, 4)
"""COUT band counts tried to make room for partial sums in the memtiles (fewer weights
resident at a time) when a layer fits in one pass but its partial sums do not."""


@lru_cache(maxsize=4096)
def _bands_for_sums(shape: LayerShape, split: Split, array: AIE2Array, budget: int | None
                    ) -> tuple[DDRTiling, ...]:
    """COUT bands (activations resident, weights one band at a time: no more DDR
    traffic than one pass) whose partial sums fit where one pass's do not. Memoised."""
    if shape.groups > 1 or _sums_fit(shape, split, array, DDRTiling(), budget):
        return ()  # (channel bands of grouped layers are not built)
    most = ceil(shape.cout / shape.channel_unit)
    return tuple([DDRTiling(1, n) for n in SUMS_BANDS
                  if n <= most and _sums_fit(shape, split, array, DDRTiling(1, n), budget)][:1])


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
        for band0, band1 in pairwise(h_bounds):
            band = (band1 - band0, shape.out_hw[1])
            for row in range(mapping.rows):
                for col in range(mapping.cols):
                    (h0, h1), (w0, w1), (c0, c1) = split.core_block(band, channels, row, col)
                    c0, c1 = base + c0, min(base + c1, shape.cout)
                    for h in range(band0 + h0, band0 + h1, sub.h):
                        for w in range(w0, w1, sub.w):
                            for c in range(c0, c1, sub.cout):
                                yield row, col, (h, min(h + sub.h, band0 + h1), w,
                                                 min(w + sub.w, w1), c, min(c + sub.cout, c1))


def coverage(mapping: LayerMapping) -> np.ndarray:
    """How many tiles write each output element (all ones for a correct mapping)."""
    shape = mapping.shape
    count = np.zeros((*shape.out_hw, shape.cout), dtype=np.int32)
    for _, _, (h0, h1, w0, w1, c0, c1) in output_tiles(mapping):
        count[h0:h1, w0:w1, c0:c1] += 1
    return count
