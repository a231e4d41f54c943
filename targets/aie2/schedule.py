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

Every core runs the same steps (the streams are broadcast); a core whose range has no
chunk at a step idles through it. With a CIN-split the partial sums of a subvolume stay
in its core's output buffer across its input-channel chunks, and WRITEFM moves data only
after the last one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from math import ceil

from xdsl.ir import Operation

from bsir.dialects import tg, tiling
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.layout import hwc
from bsir.targets.aie2.mapping import Split, band_channels, even_bounds, window


@dataclass(frozen=True)
class Geometry:
    """A layer's sliding window over (H, W) of its main input."""

    kind: str                         # conv, matmul, maxpool, avgpool, gap, eltwise
    in_hwc: tuple[int, int, int]
    out_hwc: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1

    @property
    def weighted(self) -> bool:
        return self.kind in ("conv", "matmul")

    @property
    def cin_per_group(self) -> int:
        return self.in_hwc[2] // self.groups

    def input_span(self, axis: int, o0: int, o1: int) -> tuple[int, int, int]:
        """(first, end, offset) of the input rows (axis 0) or columns (1) that outputs
        [o0, o1) read, clipped to the input, and where the clipped span starts inside
        the padded window."""
        size = self.in_hwc[axis]
        start = o0 * self.stride[axis] - self.pads[axis]
        extent = window(o1 - o0, self.kernel[axis], self.stride[axis], self.dilation[axis])
        first, end = max(start, 0), min(start + extent, size)
        return first, max(end, first), first - start

    def input_channels(self, c0: int, c1: int, k0: int, k1: int) -> tuple[int, int]:
        """Input channels a chunk of output channels [c0, c1) and input chunk [k0, k1)
        reads."""
        if not self.weighted:
            return c0, c1
        if self.groups == 1:
            return k0, k1
        per = self.out_hwc[2] // self.groups
        return (c0 // per) * self.cin_per_group, ((c1 - 1) // per + 1) * self.cin_per_group


def geometry_of(op: Operation) -> Geometry:
    """The window geometry of a layer's tg op."""
    if isinstance(op, tg.Conv2dOp):
        kernel = tg.tensor_shape(op.weight)[1:3]
        return Geometry("conv", hwc(op.input), hwc(op.output), tuple(kernel), op.stride_hw,
                        op.dilation_hw, op.pads, op.group_count)
    if isinstance(op, tg.MatmulOp):
        return Geometry("matmul", (1, 1, hwc(op.input)[2] * hwc(op.input)[0]),
                        (1, 1, hwc(op.output)[2]))
    if isinstance(op, tg.MaxPool2dOp | tg.AvgPool2dOp):
        kind = "maxpool" if isinstance(op, tg.MaxPool2dOp) else "avgpool"
        return Geometry(kind, hwc(op.input), hwc(op.output), op.kernel_hw, op.stride_hw,
                        (1, 1), op.pads)
    if isinstance(op, tg.GlobalAvgPoolOp):
        h, w, c = hwc(op.input)
        return Geometry("gap", (h, w, c), hwc(op.output), (h, w), (h, w))
    return Geometry("eltwise", hwc(op.results[0]), hwc(op.results[0]))


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


def layer_passes(layer: tiling.MappedLayer, geometry: Geometry, rows: int, cols: int
                 ) -> Iterator[Pass]:
    """Every DDR pass of a layer with its steps."""
    sub = layer.subvolume.as_dict()
    ddr = layer.ddr.as_dict()
    attr = layer.split
    split = Split(attr.get("mode"), attr.get("cols"), attr.get("rows"))
    out_h, out_w, cout = geometry.out_hwc
    shape = layer_shape(layer.inner)
    band = band_channels(shape, ddr["cout_passes"]) if shape is not None else cout
    ranges = {(r, c): split.core_ranges(out_w, r, c) for r in range(rows) for c in range(cols)}
    widest = max(max(w1 - w0 for (w0, w1), _ in ranges.values()), 1)
    deepest = max(max(c1 - c0 for _, (c0, c1) in ranges.values()), 1)
    n_cout = ceil(deepest / sub["cout"])
    n_w = ceil(widest / sub["w"])
    cin_split = bool(sub["cin_split"]) and geometry.weighted
    k_bounds = [(k, min(k + sub["cin"], geometry.cin_per_group))
                for k in range(0, geometry.cin_per_group, sub["cin"])] if cin_split \
        else [(0, geometry.cin_per_group)]
    subvolume = 0
    for base in range(0, cout, band):
        for r0, r1 in pairwise(even_bounds(out_h, ddr["h_passes"])):
            current = Pass((base, min(base + band, cout)), (r0, r1))
            blocks = [(h, min(h + sub["h"], r1)) for h in range(r0, r1, sub["h"])]
            for ci in range(n_cout):
                if not cin_split:
                    weights = _chunks(ranges, base, band, cout, ci, sub["cout"], 0,
                                      (0, 0), (0, geometry.cin_per_group))
                    current.segments.append(Segment(weights if geometry.weighted else None))
                for wi in range(n_w):
                    for position, (h0, h1) in enumerate(blocks):
                        where = "first" if position == 0 else \
                            "last" if position == len(blocks) - 1 else "middle"
                        for ki, (k0, k1) in enumerate(k_bounds):
                            chunks = _chunks(ranges, base, band, cout, ci, sub["cout"],
                                             wi * sub["w"], (h0, h1), (k0, k1), sub["w"])
                            step = Step(where, subvolume, ki == 0, ki == len(k_bounds) - 1,
                                        chunks)
                            if cin_split:
                                current.segments.append(Segment(chunks, [step]))
                            else:
                                current.segments[-1].steps.append(step)
                        subvolume += 1
            yield current


def _chunks(ranges: dict[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]],
            base: int, band: int, cout: int, ci: int, chunk_c: int, w_offset: int,
            rows: tuple[int, int], k: tuple[int, int], chunk_w: int | None = None
            ) -> dict[tuple[int, int], Chunk]:
    out = {}
    for core, ((w0, w1), (c0, c1)) in ranges.items():
        lo = base + c0 + ci * chunk_c
        hi = min(lo + chunk_c, base + c1, base + band, cout)
        ws = w0 + w_offset
        we = w1 if chunk_w is None else min(ws + chunk_w, w1)
        if hi <= lo or we <= ws:
            continue
        out[core] = Chunk(rows[0], rows[1], ws, we, lo, hi, k[0], k[1])
    return out
