"""The loop nest an ``aie2.layer``'s instruction summary stands for.

The instructions give iteration counts, addresses and locks; which output each core
computes at each iteration follows from the layer's split, subvolume and DDR tiling::

    for each COUT band, then each row band (a DDR pass):
        LOAD / LOADW of the pass, then
        for each output-channel chunk of a core:       LOADWDM (unless CIN-split)
            for each column chunk:
                for each row block of the band:
                    for each input-channel chunk:     LOADWDM (CIN-split only)
                        LOADFM, COMP, WRITEFM         (one stream step)
        WRITE of the pass

With partial sums in the memtile (``cin_split = 2``) or in the core's scratch
(``cin_split = 3``) the input-channel loop moves out, weight-stationary::

        for each output-channel chunk (in the scratch: and each column chunk),
          for each input-channel chunk:                                LOADWDM
            for each column chunk (in the memtile), for each row block:
                LOADFM (input and, after the first chunk, partial sums from the memtile),
                COMP (in the scratch: adding to the tile's partial sums there),
                WRITEFM (partial sums to the memtile, or the output after the last chunk)

Every core runs the same steps; a core whose range has no chunk at a step idles through
it. A core's row blocks are those of its own slice of output rows (H-split) or of the
whole pass. With a CIN-split the partial sums of a subvolume stay
in its core's output buffer across its input-channel chunks, and WRITEFM moves data only
after the last one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from math import ceil

from bsir.dialects import tiling
from bsir.targets.aie2.geometry import LayerShape, even_bounds
from bsir.targets.aie2.mapping import Split, band_channels
from bsir.targets.aie2.program import Subvolume


@dataclass(frozen=True)
class Chunk:
    """What one core computes at one step: output rows, columns, channels (absolute)
    and the input-channel chunk (within a group)."""

    h0: int
    h1: int
    w0: int
    w1: int
    c0: int
    c1: int
    k0: int
    k1: int


@dataclass
class Step:
    """One stream step: each working core's chunk."""

    row_position: str                 # first, middle or last row block of its sequence
    subvolume: int                    # index of the output subvolume (output ping/pong)
    first_k: bool                     # first input-channel chunk (start accumulating)
    last_k: bool                      # last chunk: requantize and write out
    chunks: dict[tuple[int, int], Chunk] = field(default_factory=dict)
    tile: int = 0                     # weight-stationary: the tile's place in its chunk


@dataclass
class Segment:
    """Steps between two weight loads (LOADWDM halts the cores)."""

    weights: dict[tuple[int, int], Chunk] | None   # each core's weight chunk, or None
    steps: list[Step] = field(default_factory=list)


@dataclass
class Pass:
    """One DDR pass: a COUT band and a row band."""

    channels: tuple[int, int]
    rows: tuple[int, int]
    segments: list[Segment] = field(default_factory=list)
    origins: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict)
    """Each core's first output row, column and channel in the pass (absolute)."""


def layer_passes(layer: tiling.MappedLayer, geometry: LayerShape, rows: int, cols: int
                 ) -> Iterator[Pass]:
    """Every DDR pass of a layer with its steps."""
    sub = layer.subvolume.as_dict()
    ddr = layer.ddr.as_dict()
    split = Split.of(layer)
    out_h, out_w, cout = geometry.out_hwc
    band = band_channels(geometry, ddr["cout_passes"])
    loop = Subvolume.of(layer)  # the loop order the cin_split code stands for
    cin_split = loop.cin_split and geometry.weighted
    weight_stationary = loop.weight_stationary and geometry.weighted
    k_bounds = [(k, min(k + sub["cin"], geometry.cin_per_group))
                for k in range(0, geometry.cin_per_group, sub["cin"])] if cin_split \
        else [(0, geometry.cin_per_group)]
    subvolume = 0
    for base in range(0, cout, band):
        for r0, r1 in pairwise(even_bounds(out_h, ddr["h_passes"])):
            current = Pass((base, min(base + band, cout)), (r0, r1))
            ranges = {(r, c): split.core_block((r1 - r0, out_w), band, r, c)
                      for r in range(rows) for c in range(cols)}
            tallest = max(max(h1 - h0 for (h0, h1), _, _ in ranges.values()), 1)
            widest = max(max(w1 - w0 for _, (w0, w1), _ in ranges.values()), 1)
            deepest = max(max(c1 - c0 for _, _, (c0, c1) in ranges.values()), 1)
            n_cout = ceil(deepest / sub["cout"])
            n_w = ceil(widest / sub["w"])
            n_blocks = ceil(tallest / sub["h"])
            current.origins = {core: (r0 + h0, w0, base + c0)
                               for core, ((h0, _), (w0, _), (c0, _)) in ranges.items()}
            if weight_stationary:
                subvolume = _weight_stationary(current, ranges, base, r0, cout, n_cout, n_w,
                                               n_blocks, sub, k_bounds, subvolume,
                                               columns_outside=loop.sums_in_scratch
                                               and not loop.columns_inside)
                yield current
                continue
            for ci in range(n_cout):
                if not cin_split:
                    weights = _chunks(ranges, base, r0, cout, ci, sub["cout"], 0, 0, sub["h"],
                                      (0, geometry.cin_per_group), whole=True)
                    current.segments.append(Segment(weights if geometry.weighted else None))
                for wi in range(n_w):
                    for position in range(n_blocks):
                        where = "first" if position == 0 else \
                            "last" if position == n_blocks - 1 else "middle"
                        for ki, (k0, k1) in enumerate(k_bounds):
                            chunks = _chunks(ranges, base, r0, cout, ci, sub["cout"],
                                             wi * sub["w"], position, sub["h"], (k0, k1),
                                             sub["w"])
                            step = Step(where, subvolume, ki == 0, ki == len(k_bounds) - 1,
                                        chunks)
                            if cin_split:
                                current.segments.append(Segment(chunks, [step]))
                            else:
                                current.segments[-1].steps.append(step)
                        subvolume += 1
            yield current


def _weight_stationary(current: Pass, ranges, base: int, r0: int, cout: int, n_cout: int,
                       n_w: int, n_blocks: int, sub: dict, k_bounds: list[tuple[int, int]],
                       subvolume: int, columns_outside: bool = False) -> int:
    """The steps of a weight-stationary pass: for each channel chunk (and, with
    ``columns_outside``, each column chunk) and input-channel chunk, one weight load,
    then every tile it covers (numbered in order: where its partial sums lie in the
    core's scratch); returns the next subvolume number."""
    last = len(k_bounds) - 1
    outer = [(ci, (wi,)) for ci in range(n_cout) for wi in range(n_w)] if columns_outside \
        else [(ci, tuple(range(n_w))) for ci in range(n_cout)]
    for ci, columns in outer:
        for ki, k in enumerate(k_bounds):
            weights = _chunks(ranges, base, r0, cout, ci, sub["cout"], 0, 0, sub["h"], k,
                              whole=True)
            segment = Segment(weights)
            for wi in columns:
                for position in range(n_blocks):
                    where = "first" if position == 0 else \
                        "last" if position == n_blocks - 1 else "middle"
                    chunks = _chunks(ranges, base, r0, cout, ci, sub["cout"], wi * sub["w"],
                                     position, sub["h"], k, sub["w"])
                    segment.steps.append(Step(where, subvolume, ki == 0, ki == last, chunks,
                                              len(segment.steps)))
                    subvolume += 1
            current.segments.append(segment)
    return subvolume


def _chunks(ranges: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int],
                                                  tuple[int, int]]],
            base: int, first_row: int, cout: int, ci: int, chunk_c: int, w_offset: int,
            block: int, chunk_h: int, k: tuple[int, int], chunk_w: int | None = None,
            whole: bool = False) -> dict[tuple[int, int], Chunk]:
    """Each working core's chunk: its ``ci``-th channel chunk, ``block``-th row block
    and the column chunk at ``w_offset`` of its range (``whole``: every row and column
    of it, for the weights a chunk of channels needs)."""
    out = {}
    for core, ((h0, h1), (w0, w1), (c0, c1)) in ranges.items():
        lo = base + c0 + ci * chunk_c
        hi = min(lo + chunk_c, base + c1, cout)
        hs = h0 if whole else h0 + block * chunk_h
        he = h1 if whole else min(hs + chunk_h, h1)
        ws = w0 + w_offset
        we = w1 if chunk_w is None else min(ws + chunk_w, w1)
        if hi <= lo or we <= ws or he <= hs:
            continue
        out[core] = Chunk(first_row + hs, first_row + he, ws, we, lo, hi, k[0], k[1])
    return out
