"""What a mapped layer's program is, before any address: its subvolume, its DDR tiling and
the groups of streamed instructions a core runs.

The mapper (targets/aie2/mapping.py) builds the program of every mapping it considers
and costs it with targets/aie2/cost.py; the code generator (convert-tiling-to-aie2)
emits the same program as instructions; the time model costs those instructions with the
same function. So the cost the search minimises is the time the time model reports.

A core streams its output rows in row blocks of ``h`` rows: a *head* and a *tail* where
padding makes the first or last block read a different number of input rows (paper
Eq. 8), and a *body* of identical blocks between them. Each group repeats once per
width, channel and input-channel chunk of the core's work, and once per DDR pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

from bsir.dialects import tiling
from bsir.targets.aie2.geometry import PARTIAL_SUM_BYTES, LayerShape, input_span


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
    sums_in_memtile: bool = False
    """A CIN-split whose partial sums go back to the memtile between input-channel
    chunks (weight-stationary: each chunk's weights are loaded once and every tile of
    the core streams through them) rather than staying in the core."""
    sums_in_scratch: bool = False
    """A weight-stationary CIN-split whose partial sums, every tile's of the core,
    stay in the core between input-channel chunks, a slot per tile over its output
    buffers and scratch memory (``CoreLayout``; no traffic)."""
    columns_inside: bool = False
    """With the partial sums in the core's scratch: each input-channel chunk's weights
    load once for all the core's column chunks, each one row block high, which stream
    through them one after another (the whole core's sums take a slot each), rather than
    once per column chunk."""
    weights_moved: int = 0
    """Bytes the weight loads of one DDR pass move to the busiest core's channel: the
    cores load together (LOADWDM halts them), so each load costs the largest chunk any
    core loads then (at most ``weight_bytes x weight_loads``; with COUT bands, the
    average over the bands' passes, rounded up)."""

    @property
    def weight_stationary(self) -> bool:
        """Each input-channel chunk's weights load once and every tile of the core
        streams through them (partial sums in the memtile or the core's scratch)."""
        return self.sums_in_memtile or self.sums_in_scratch

    @property
    def cin_split_code(self) -> int:
        """``cin_split`` as ``#tiling.subvolume`` records it: 0 none, 1 partial sums in
        the core's output buffer, 2 in the memtile, 3 in the core's scratch, 4 there with
        the column chunks inside the chunk loop."""
        if self.sums_in_scratch:
            return 4 if self.columns_inside else 3
        return 2 if self.sums_in_memtile else int(self.cin_split)

    @staticmethod
    def of(layer: tiling.MappedLayer) -> Subvolume:
        """The subvolume a mapped layer's ``#tiling.subvolume`` records."""
        fields = layer.subvolume.as_dict()
        fields["macs_per_iteration"] = fields.pop("macs")
        code = fields["cin_split"]
        fields["cin_split"] = code > 0
        fields["sums_in_memtile"] = code == 2
        fields["sums_in_scratch"] = code in (3, 4)
        fields["columns_inside"] = code == 4
        return Subvolume(**fields)


@dataclass(frozen=True)
class DDRTiling:
    """Outer tiling through DDR when the layer does not fit the memtiles."""

    h_passes: int = 1
    cout_passes: int = 1

    @property
    def passes(self) -> int:
        return self.h_passes * self.cout_passes

    @staticmethod
    def of(layer: tiling.MappedLayer) -> DDRTiling:
        """The DDR tiling a mapped layer's ``#tiling.ddr`` records."""
        return DDRTiling(layer.ddr.get("h_passes"), layer.ddr.get("cout_passes"))


@dataclass(frozen=True)
class RowGroup:
    """Row blocks of one core that read alike: the head, the body or the tail."""

    phase: str
    out_rows: int      # output rows per iteration
    in_rows: int       # input rows read per iteration (the largest of the group)
    first_row: int     # first input row read
    iterations: int


@dataclass(frozen=True)
class StreamGroup:
    """LOADFM, COMP and WRITEFM of one row group: bytes and MACs per iteration."""

    phase: str
    in_bytes: int
    macs: int
    out_bytes: int
    iterations: int
    repeat: int


@dataclass(frozen=True)
class RowGeometry:
    """What a layer's streamed rows depend on: its geometry along H."""

    in_h: int
    kernel: int
    stride: int
    dilation: int
    top: int
    gathers: bool

    @staticmethod
    def of(shape: LayerShape) -> RowGeometry:
        return RowGeometry(shape.in_hw[0], shape.kernel[0], shape.stride[0],
                           shape.dilation[0], shape.pad[0], shape.gathers(0))

    def input_rows(self, r0: int, r1: int) -> int:
        """Input rows a core's tile holds for output rows [r0, r1), padding excluded."""
        if self.gathers:
            return (r1 - r0) * self.kernel
        first, end, _ = input_span(self.in_h, r0, r1, self.kernel, self.stride,
                                   self.dilation, self.top)
        return end - first


def row_groups(shape: LayerShape, out_h: int, block: int) -> tuple[RowGroup, ...]:
    """Head, body and tail of ``out_h`` output rows streamed ``block`` rows at a time."""
    return _row_groups(RowGeometry.of(shape), out_h, block)


@lru_cache(maxsize=8192)
def _row_groups(rows: RowGeometry, out_h: int, block: int) -> tuple[RowGroup, ...]:
    """:func:`row_groups`, memoised: the mapper costs many subvolumes of one layer."""
    blocks = [(r, min(r + block, out_h)) for r in range(0, out_h, block)]
    if not blocks:
        return ()
    h, k, stride, dilation, top = rows.in_h, rows.kernel, rows.stride, rows.dilation, rows.top

    def clipped(r0: int, r1: int) -> tuple[bool, bool]:
        """Does the block's input window run into the top or bottom padding?"""
        first = r0 * stride - top
        last = (r1 - 1) * stride - top + dilation * (k - 1)
        return first < 0, last > h - 1

    signature = [(r1 - r0, rows.input_rows(r0, r1), *clipped(r0, r1)) for r0, r1 in blocks]
    start, stop = 0, len(blocks)
    groups: list[RowGroup] = []
    middle = signature[len(signature) // 2]
    if len(blocks) > 1 and signature[0] != middle:
        r0, _ = blocks[0]
        groups.append(RowGroup("head", *signature[0][:2], max(0, r0 * stride - top), 1))
        start = 1
    tail = None
    if stop - start > 1 and signature[-1] != middle:
        r0, _ = blocks[-1]
        tail = RowGroup("tail", *signature[-1][:2], max(0, r0 * stride - top), 1)
        stop -= 1
    if stop > start:
        r0, _ = blocks[start]
        out_rows = max(s[0] for s in signature[start:stop])
        in_rows = max(s[1] for s in signature[start:stop])
        groups.append(RowGroup("body", out_rows, in_rows, max(0, r0 * stride - top),
                               stop - start))
    if tail:
        groups.append(tail)
    return tuple(groups)


CHUNK_POSITIONS = ("first", "middle", "last")
"""Where an input-channel chunk stands in a weight-stationary CIN-split: the first
starts the partial sums, the middle ones add to them, the last finishes them and writes
the layer's output."""


def stream_groups(shape: LayerShape, sub: Subvolume, ddr: DDRTiling, row_parts: int = 1
                  ) -> list[StreamGroup]:
    """The streamed groups of a mapped layer, as the code generator emits them.

    A layer tiled into H bands runs the program of one band once per band (padding
    clips only the first and last band's blocks, so every band reads full windows).
    When the split gives each core row ``row_parts`` > 1 a slice of the band's output
    rows (``Split.row_parts``), every core runs the same program on its own slice: one
    group of full row blocks, each reading full windows, the last (possibly shorter)
    block charged as a full one, so the program bounds every core's.

    Weight-stationary, each row group comes once per chunk position (``head.first``,
    ``body.middle``, ...). With partial sums in the memtile, LOADFM brings them (4 bytes
    an output) with the input after the first chunk and WRITEFM takes them back before
    the last; in the core's scratch they move nowhere and the chunks before the last
    write nothing. A fused addition's residual (a byte an output) comes with the input
    of the tile's last (or only) chunk.

    With input-channel chunks whose partial sums stay in the output buffer
    (``cin_split = 1``) every step loads its own weights first, and LOADWDM halts the
    cores until every earlier step has drained: no two steps overlap, so each group is
    one iteration, repeated."""
    out_h = shape.out_hw[0]
    bands = ddr.h_passes
    rows = ceil(out_h / bands) if bands > 1 else out_h
    if row_parts > 1:
        rows = ceil(rows / row_parts)
        blocks = ceil(rows / sub.h)
        in_rows = min(shape.in_hw[0], shape.tile_extent(0, sub.h))
        groups: tuple[RowGroup, ...] = (RowGroup("body", sub.h, in_rows, 0, blocks),)
    else:
        groups = row_groups(shape, rows, sub.h)
    rows_per_pass = sum(g.iterations for g in groups)
    chunks = ceil(shape.cin_per_group / sub.cin) if sub.weight_stationary else 1
    sum_bytes = PARTIAL_SUM_BYTES if sub.sums_in_memtile else 0  # partial-sum bytes an output
    repeat = max(1, round(sub.iterations / max(rows_per_pass * chunks, 1)))
    # column chunks inside the chunk loop, a row block each: consecutive tiles of one
    # chunk's weights, streamed as one group
    columns = sub.iterations // sub.weight_loads if sub.columns_inside else 1
    repeat = repeat // columns * ddr.passes
    gate = shape.gate_bytes(sub.cout)
    row_bytes = (sub.input_bytes - gate) // max(sub.in_h, 1)
    positions = [(None, 1)] if chunks == 1 else \
        [(p, n) for p, n in zip(CHUNK_POSITIONS, (1, chunks - 2, 1), strict=True) if n]
    halted = sub.cin_split and not sub.weight_stationary  # a weight load before each step
    program = []
    for group in groups:
        in_rows = group.in_rows
        if bands > 1:
            in_rows = max(in_rows, min(shape.in_hw[0], shape.tile_extent(0, group.out_rows)))
        outputs = group.out_rows * sub.w * sub.cout
        for position, count in positions:
            sums_in = outputs * sum_bytes if position in ("middle", "last") else 0
            sums_out = position in ("first", "middle")
            residual = shape.residual_bytes(group.out_rows, sub.w, sub.cout) \
                if position in (None, "last") else 0
            program.append(StreamGroup(
                group.phase if position is None else f"{group.phase}.{position}",
                in_rows * row_bytes + gate + sums_in + residual,
                ceil(sub.macs_per_iteration * group.out_rows / max(sub.h, 1)),
                outputs * (sum_bytes if sums_out else 1),
                1 if halted else group.iterations * columns,
                repeat * count * (group.iterations if halted else 1)))
    return program
