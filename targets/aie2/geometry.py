"""The geometry of one layer, computed once from its tg op (targets/aie2/layer_shape.py)
and read by every stage of the AIE2 back end: mapping, code generation, simulation,
time model and lower bound."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from math import ceil, prod

import numpy as np

from bsir.frozen import hash_once, state_without_hash

BIAS_BYTES = 4
PARTIAL_SUM_BYTES = 4
LAYER_KINDS = ("conv", "matmul", "maxpool", "avgpool", "gap", "eltwise")


@lru_cache(maxsize=4096)
def even_bounds(total: int, parts: int, unit: int = 1) -> tuple[int, ...]:
    """Split ``total`` into ``parts`` ranges as even as possible, in multiples of ``unit``
    (the last range may be shorter); parts beyond the units available are empty.
    Memoised: every core's block of a split asks for the same few."""
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


def input_span(size: int, o0: int, o1: int, kernel: int, stride: int, dilation: int,
               pad: int) -> tuple[int, int, int]:
    """(first, end, offset) of the ``size`` input positions along one axis that outputs
    [o0, o1) read, clipped to the input, and where the clipped span starts inside the
    padded window (``pad`` positions before the input)."""
    start = o0 * stride - pad
    first, end = max(start, 0), min(start + window(o1 - o0, kernel, stride, dilation), size)
    return first, max(end, first), first - start


@dataclass(frozen=True)
class BlockMask:
    """Which weight blocks a block-sparse layer keeps: ``rows`` COUT block rows by
    ``cols`` CIN block columns, packed row-major one bit a block. Frozen and hashable
    (on its bits), so a layer shape that carries it stays a memoisation key.

    The mask of one COUT band of a layer tiled into ``bands`` bands through DDR holds
    every band's rows (:meth:`in_bands`): a pass computes one band, and what a pass
    costs is known for each."""

    rows: int
    cols: int
    bits: bytes
    bands: int = 1

    @staticmethod
    def of(mask: np.ndarray) -> BlockMask:
        """The mask of a boolean array ``[block rows, block columns]`` (or ``[bands,
        block rows, block columns]``)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim == 2:
            mask = mask[None]
        if mask.ndim != 3:
            raise ValueError(f"a block mask is 2-D (or 3-D: bands), got shape {mask.shape}")
        bands, rows, cols = mask.shape
        return BlockMask(rows, cols, np.packbits(mask, axis=None).tobytes(), bands)

    @staticmethod
    def leading(counts: Sequence[int], cols: int) -> BlockMask:
        """A mask keeping the first ``counts[r]`` blocks of each block row ``r``."""
        return BlockMask.of(np.arange(cols)[None, :] < np.asarray(counts)[:, None])

    @cached_property
    def array(self) -> np.ndarray:
        """The mask as a boolean array ``[bands, rows, cols]``."""
        size = self.bands * self.rows * self.cols
        flat = np.unpackbits(np.frombuffer(self.bits, dtype=np.uint8))
        return flat[:size].reshape(self.bands, self.rows, self.cols).astype(bool)

    @cached_property
    def row_counts(self) -> tuple[int, ...]:
        """Kept blocks per block row (with bands: the most of any band's row)."""
        return tuple(int(n) for n in self.array.sum(axis=2).max(axis=0))

    @cached_property
    def prefix(self) -> np.ndarray:
        """Prefix sums per band: ``prefix[b, r, c]`` kept blocks of band ``b`` in rows
        < r and columns < c."""
        out = np.zeros((self.bands, self.rows + 1, self.cols + 1), dtype=np.int64)
        out[:, 1:, 1:] = self.array.cumsum(axis=1).cumsum(axis=2)
        return out

    def kept(self, r0, r1, c0, c1) -> np.ndarray:
        """Kept blocks in block rows [r0, r1) and block columns [c0, c1) (integers or
        index arrays that broadcast), one value per band along a first axis."""
        p = self.prefix
        return p[:, r1, c1] - p[:, r0, c1] - p[:, r1, c0] + p[:, r0, c0]

    def in_bands(self, rows: int) -> BlockMask:
        """The mask cut into bands of ``rows`` block rows (the last padded with empty
        rows)."""
        whole = self.array.reshape(-1, self.cols)
        padded = np.zeros((ceil(whole.shape[0] / rows) * rows, self.cols), dtype=bool)
        padded[:whole.shape[0]] = whole
        return BlockMask.of(padded.reshape(-1, rows, self.cols))


def hwc_of_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """A tensor's (H, W, C) as the array holds it, row-major as the tensor is: the last
    axis is C, the one before W, all before those H (one for an N x H x W x C image
    of a batch of one; windows x heads of an attention tensor); a matrix is one row."""
    if len(shape) >= 3:
        return prod(shape[:-2]), shape[-2], shape[-1]
    return (1, *(1,) * (2 - len(shape)), *shape)  # type: ignore[return-value]


@dataclass(frozen=True)
class Gather:
    """A copy's index map, from its output to its input, both of any rank: a transpose
    (``perm``: the input axis of each output axis) or a slice (``axis``, ``start``,
    ``step``). The memtile's DMA reads the input in this order (its address patterns
    step through four dimensions; a copy of more steps through several)."""

    source: tuple[int, ...]                 # the input's shape
    target: tuple[int, ...]                 # the output's shape
    perm: tuple[int, ...] | None = None
    slice: tuple[int, int, int] | None = None  # (axis, start, step)

    def input_positions(self, hh: np.ndarray, ww: np.ndarray, cc: np.ndarray
                        ) -> list[np.ndarray]:
        """The input (H, W, C) of output positions (H, W, C) (index arrays)."""
        _, w, c = hwc_of_shape(self.target)
        index = list(np.unravel_index((hh * w + ww) * c + cc, self.target)) \
            if self.target else []
        if self.perm is not None:
            moved = [index[0]] * len(self.perm)
            for out_axis, in_axis in enumerate(self.perm):
                moved[in_axis] = index[out_axis]
            index = moved
        elif self.slice is not None:
            axis, start, step = self.slice
            index[axis] = start + step * index[axis]
        flat = np.ravel_multi_index(index, self.source) if self.source else hh * 0
        _, w, c = hwc_of_shape(self.source)
        rows, rest = np.divmod(flat, w * c)
        return [rows, *np.divmod(rest, c)]


@dataclass(frozen=True)
class LayerShape:
    """A layer's geometry (batch 1, NHWC, INT8 sizes): the one description of a layer
    that the mapper, the code generator, the simulator, the time model and the lower
    bound all read."""

    kind: str                      # conv, matmul, maxpool, avgpool, gap, eltwise
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
    block_mask: BlockMask | None = None  # the kept blocks of a block-sparse layer
    other_input_bytes: int = 0     # bytes of extra inputs (concat: all but the largest)
    gate: bool = False             # an N x 1 x 1 x C input broadcast over H, W (tg.mul)
    channel_map: tuple[int, ...] | None = None  # input channel of each output channel
    gather: Gather | None = None
    """A copy (a transpose or a slice) and where each of its outputs reads its input. A
    core's input tile, gathered by the memtile's address pattern, has its output tile's
    shape, so ``in_hw`` and ``cin`` are the output's; ``source`` is the input's (H, W, C)."""
    source: tuple[int, int, int] | None = None
    rhs_depth: int = 0
    """A product of two activations (attention's Q K^T, A V), heads x M x K by heads x K
    x N: K, the depth of its right operand, whose K x channels a core's tile (one head)
    reads beside its rows of the left one (``cin`` = K)."""
    residual: bool = False         # an addition fused in: an output-shaped input added
    rowwise: bool = False          # over whole rows of channels (softmax, layer norm):
    #                                a core computes whole rows, channels are never split
    element_ops: int = 0           # vector operations per output element besides MACs
    #                                (an element-wise op's: one per input when 0)

    # the mapper's memo tables look shapes up many thousands of times
    __hash__ = hash_once
    __getstate__ = state_without_hash

    def gate_bytes(self, channels: int) -> int:
        """Bytes of the gate a core's tile of ``channels`` channels reads with its input."""
        if self.rhs_depth:
            return self.rhs_depth * channels
        return channels if self.gate else 0

    def residual_bytes(self, rows: int, cols: int, channels: int) -> int:
        """Bytes of the residual a core's output tile reads with its input (0 without
        a fused addition)."""
        return rows * cols * channels if self.residual else 0

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"unknown layer kind '{self.kind}' (one of {LAYER_KINDS})")

    @cached_property
    def block_row_nnz(self) -> tuple[int, ...] | None:
        """Kept blocks per COUT block row (None when dense)."""
        return None if self.block_mask is None else self.block_mask.row_counts

    @cached_property
    def weighted(self) -> bool:
        return self.kind in ("conv", "matmul")

    @cached_property
    def is_pool(self) -> bool:
        return self.kind in ("maxpool", "avgpool", "gap")

    @property
    def in_hwc(self) -> tuple[int, int, int]:
        return (*self.in_hw, self.cin)

    @property
    def out_hwc(self) -> tuple[int, int, int]:
        return (*self.out_hw, self.cout)

    def gathers(self, axis: int) -> bool:
        """Does a core's input tile hold only the positions its windows read along
        ``axis`` (rows 0, columns 1)? So for a convolution whose kernel is narrower than
        its stride (a strided 1x1), without padding or dilation there: the memtile's DMA
        skips the positions between windows, as its strided addressing allows."""
        return (self.kind == "conv" and self.kernel[axis] < self.stride[axis]
                and self.dilation[axis] == 1 and self.pad[axis] == 0
                and self.pad[axis + 2] == 0)

    def tile_extent(self, axis: int, outputs: int) -> int:
        """Input positions a core's tile holds along ``axis`` for ``outputs`` outputs."""
        if self.gathers(axis):
            return outputs * self.kernel[axis]
        return window(outputs, self.kernel[axis], self.stride[axis], self.dilation[axis])

    def gathered_positions(self, axis: int, o0: int, o1: int) -> np.ndarray:
        """The input positions the tile of outputs [o0, o1) holds along a gathered axis."""
        taps = np.arange(self.kernel[axis])
        return (np.arange(o0, o1)[:, None] * self.stride[axis] + taps[None, :]).ravel()

    def tile_geometry(self) -> LayerShape:
        """The geometry a core computes on: along a gathered axis its tile holds the
        windows side by side, a convolution of stride = kernel over ``outputs x kernel``
        positions."""
        if not (self.gathers(0) or self.gathers(1)):
            return self
        stride, in_hw = list(self.stride), list(self.in_hw)
        for axis in (0, 1):
            if self.gathers(axis):
                stride[axis] = self.kernel[axis]
                in_hw[axis] = self.out_hw[axis] * self.kernel[axis]
        return replace(self, stride=(stride[0], stride[1]), in_hw=(in_hw[0], in_hw[1]))

    def input_span(self, axis: int, o0: int, o1: int) -> tuple[int, int, int]:
        """(first, end, offset) of the input rows (axis 0) or columns (1) that outputs
        [o0, o1) read, clipped to the input, and where the clipped span starts inside
        the padded window."""
        return input_span(self.in_hw[axis], o0, o1, self.kernel[axis], self.stride[axis],
                          self.dilation[axis], self.pad[axis])

    def input_channels(self, c0: int, c1: int, k0: int, k1: int) -> tuple[int, int]:
        """Input channels a chunk of output channels [c0, c1) and input chunk [k0, k1)
        reads."""
        if not self.weighted:
            return c0, c1
        if self.groups == 1:
            return k0, k1
        per = self.cout // self.groups
        return (c0 // per) * self.cin_per_group, ((c1 - 1) // per + 1) * self.cin_per_group

    @cached_property
    def cin_per_group(self) -> int:
        return self.cin // self.groups

    @property
    def block_cols(self) -> int:
        return ceil(self.cin_per_group / self.block[1])

    @cached_property
    def channel_unit(self) -> int:
        """Output channels move between cores in these units: all of them together for a
        row-wise op (a core computes whole rows)."""
        if self.rowwise:
            return self.cout
        return self.block[0] if self.block_row_nnz is not None else 1

    @cached_property
    def ops_per_output(self) -> int:
        """MACs (or compares/adds for pools and element-wise ops) per output element."""
        kh, kw = self.kernel
        if self.weighted:
            return kh * kw * self.cin_per_group + self.element_ops
        if self.is_pool:
            return kh * kw
        return self.element_ops or self.inputs

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

    def peak_rate(self, c0: int, c1: int) -> float:
        """MACs per output position of channels [c0, c1) loaded as one piece (its kept
        blocks' when sparse): :attr:`ChannelPieces.peak_rate` of that one range."""
        if self.block_mask is None or not self.weighted:
            return float((c1 - c0) * self.ops_per_output)
        return self.pieces([(c0, c1)], c1 - c0).peak_rate

    def pieces(self, ranges: Sequence[tuple[int, int]], chunk: int) -> ChannelPieces:
        """The ``chunk``-channel pieces of every core's channel range (whole block rows
        when sparse): what one weight load of a core holds. Memoised: the mapper asks
        for the same pieces under every DDR tiling and row count it tries."""
        return _pieces(self, tuple(ranges), chunk)

    def gathered_input(self, h0: int, h1: int, w0: int, w1: int, c0: int, c1: int
                       ) -> list[np.ndarray]:
        """The input (row, column, channel) of every output position of a tile of a
        :attr:`gather` layer, each array shaped like the tile."""
        assert self.gather is not None
        out = np.meshgrid(np.arange(h0, h1), np.arange(w0, w1), np.arange(c0, c1),
                          indexing="ij")
        return self.gather.input_positions(*out)

    @property
    def input_bytes(self) -> int:
        if self.source is not None:
            return int(np.prod(self.source))
        channels = self.cin if self.channel_map is None else len(set(self.channel_map))
        return self.in_hw[0] * self.in_hw[1] * channels * self.inputs \
            + self.other_input_bytes + (self.output_bytes if self.residual else 0)

    @property
    def output_bytes(self) -> int:
        return self.out_hw[0] * self.out_hw[1] * self.cout

    @property
    def total_weight_bytes(self) -> int:
        return self.weight_bytes(0, self.cout) if self.weighted else 0


@lru_cache(maxsize=4096)
def _pieces(shape: LayerShape, ranges: tuple[tuple[int, int], ...], chunk: int
            ) -> ChannelPieces:
    return ChannelPieces(shape, ranges, chunk)


@lru_cache(maxsize=256)
def _kept_prefix(nnz: tuple[int, ...], cap: int) -> np.ndarray:
    """Prefix sums of the kept blocks per block row, each row counted at most ``cap``."""
    return np.concatenate([[0], np.cumsum(np.minimum(nnz, cap))]).astype(np.int64)


class ChannelPieces:
    """The output-channel pieces a layer's cores load their weights in (each core's
    channel range cut into ``chunk``-channel pieces, whole block rows when sparse): the
    bytes of every piece for each input-channel chunk, and the largest MACs per output
    position of any piece.

    A piece's bytes for one CIN chunk are exactly what LOADWDM moves for it (the kept
    blocks of its block rows in the chunk's block columns, or the dense sub-block, then
    its biases; targets/aie2/weight_image.py); MACs are a piece's kept MACs spread evenly
    over its CIN chunks."""

    def __init__(self, shape: LayerShape, ranges: tuple[tuple[int, int], ...], chunk: int):
        self.shape = shape
        self._sizes: dict[int, tuple[int, int]] = {}
        if shape.block_mask is None or not shape.weighted:
            self._dense(ranges, chunk)
            return
        bounds = np.array([r for r in ranges if r[1] > r[0]], np.int64).reshape(-1, 2)
        c0, c1 = bounds[:, 0], bounds[:, 1]
        unit = shape.block[0] if shape.block_mask is not None else 1
        step = max(1, ceil(chunk / unit))
        # pieces in units (block rows when sparse, else channels), range after range;
        # slot: a piece's place in its core's sequence of channel chunks
        first, end = c0 // unit, -(-c1 // unit)
        counts = -(-(end - first) // step)
        slot = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        self.starts = np.repeat(first, counts) + slot * step
        self.ends = np.minimum(self.starts + step, np.repeat(end, counts))
        self.channels = np.minimum(self.ends * unit, np.repeat(c1, counts)) \
            - np.maximum(self.starts * unit, np.repeat(c0, counts))
        # by_slot[k, r]: the k-th piece of range r, -1 where the range has fewer
        self.by_slot = np.full((int(counts.max(initial=0)), len(counts)), -1, np.int64)
        self.by_slot[slot, np.repeat(np.arange(len(counts)), counts)] = np.arange(slot.size)
        self.pieces = int(slot.size)
        kept = _kept_prefix(shape.block_row_nnz, shape.block_cols)
        full = (self.ends - self.starts) * shape.block_cols
        rate = self.channels * shape.ops_per_output * (kept[self.ends] - kept[self.starts]) \
            / np.maximum(full, 1)
        self.peak_rate = float(rate.max()) if rate.size else 0.0

    def _dense(self, ranges: tuple[tuple[int, int], ...], chunk: int) -> None:
        """Dense pieces: a load scales with its channels, so the widest piece and, summed
        over the places in the cores' sequences, the widest piece at each place say all.
        Every range has full pieces but its last, so every place before the last of the
        longest sequence has a full one."""
        widths = [c1 - c0 for c0, c1 in ranges if c1 > c0]
        self.pieces = sum(ceil(w / chunk) for w in widths)
        longest = max((ceil(w / chunk) for w in widths), default=0)
        last = max((w - (longest - 1) * chunk for w in widths if ceil(w / chunk) == longest),
                   default=0)
        widest = min(chunk, max(widths, default=0))
        self._dense_channels = (widest, (longest - 1) * chunk + last if longest else 0)
        self.peak_rate = float(widest * self.shape.ops_per_output)

    def weight_bytes(self, cin: int) -> int:
        """The largest weight load of any piece, for CIN chunks of ``cin`` channels: the
        core's weight buffer must hold it."""
        return self.sizes(cin)[0]

    def moved_bytes(self, cin: int) -> int:
        """Bytes the busiest core's channel moves over one sequence of weight loads (each
        channel chunk, then each CIN chunk of ``cin`` channels): the cores load together
        (LOADWDM halts them), so each load costs the largest piece any core loads then."""
        return self.sizes(cin)[1]

    def sizes(self, cin: int) -> tuple[int, int]:
        """(:meth:`weight_bytes`, :meth:`moved_bytes`) for CIN chunks of ``cin``."""
        known = self._sizes.get(cin)
        if known is None:
            known = self._sizes[cin] = self._load_sizes(cin)
        return known

    def _load_sizes(self, cin: int) -> tuple[int, int]:
        shape = self.shape
        if not shape.weighted or not self.pieces:
            return 0, 0
        kh, kw = shape.kernel
        total = shape.cin_per_group
        cin = min(cin, total)
        chunks = ceil(total / cin)
        bias = BIAS_BYTES if shape.has_bias else 0
        if shape.block_mask is None:  # a piece's load: its channels x the chunk's
            widest, per_slot = self._dense_channels
            return widest * (kh * kw * cin + bias), per_slot * (kh * kw * total + chunks * bias)
        present = self.by_slot >= 0  # [slot, range]
        bo, bi = shape.block
        columns = (np.minimum(np.arange(chunks + 1) * cin, total) + bi - 1) // bi
        mask = shape.block_mask
        loads = mask.kept(self.starts[:, None], self.ends[:, None], columns[None, :-1],
                          columns[None, 1:]) * (bo * kh * kw * bi) \
            + self.channels[None, :, None] * bias                 # [band, piece, chunk]
        per_slot = np.where(present[None, :, :, None], loads[:, self.by_slot], 0).max(axis=2)
        # a COUT band per DDR pass: per pass, on average over the bands (rounded up)
        return int(loads.max()), ceil(int(per_slot.sum()) / mask.bands)

    def macs(self, positions: int, cin: int) -> int:
        """MACs of the busiest piece over ``positions`` output positions, one CIN chunk
        (rounded up: the chunks together never charge fewer than the piece's MACs)."""
        return ceil(round(self.peak_rate * positions) / ceil(self.shape.cin_per_group / cin))

