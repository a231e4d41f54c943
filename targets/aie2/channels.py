"""DMA channels, buffer descriptors and locks: which channel each transfer of a layer
uses, how many cores take turns on one, and whether the tiles' budgets hold.

Every memtile<->core or shim<->memtile transfer is a stream between two DMA channels: an
MM2S channel (memory to stream) of the tile that sends and an S2MM channel (stream to
memory) of the tile that receives. Tiles have few of them (``AIE2Array.memtile_mm2s`` and
the other ``DMA_BUDGETS``: 6 + 6 on a memtile, 2 + 2 on a core or a shim tile). Tiles are
named as mlir-aie names them, ``(column, row)``: shim ``(c,0)``, memtile ``(c,1)``, the
core of array row ``r`` ``(c,r+2)``.

A layer runs in phases that the time model already runs one after another: its DDR
transfers (LOAD and LOADW together, WRITE at the end), the halting weight loads
(LOADWDM), the streamed rows (LOADFM, COMP and WRITEFM overlapped). A channel serves
streams of different phases in turn (packet-switched routes: a header word a packet);
within a phase each stream needs a channel of its own, or takes turns with others:

- DDR: LOAD and LOADW arrive on one S2MM channel each (shared memtiles; with separate
  memtiles on ``ddr_channels_per_memtile`` channels of their memtile), WRITE leaves on
  ``ddr_channels_per_memtile`` MM2S channels; the shim tile below serves them.
- weights: one stream per core row, broadcast along it (W-split), one per core
  (COUT-split), or one broadcast to every core (H-split: every core the same channels),
  spread over the weight memtiles' MM2S channels.
- streamed rows: a memtile broadcasts each input to the core columns it serves (W-split:
  one stream per column; COUT-split: its part of the input to every core) when the cores
  share it (convolutions and matrix products without groups read every input channel);
  a pool, an element-wise or a grouped layer, or any layer split over output rows
  (H-split), sends every core its own (and a fused addition's residual of its
  outputs); and every core
  writes its results on a stream of its own into an S2MM channel of its column's memtile.
  A core receives its input tile on one S2MM channel (an addition's two inputs one after
  the other, as LOADFM's bytes count them; in the weight phase its weights) and sends
  its results on an MM2S channel.

Every stream is served by the memtile whose memory holds its bytes: a tile that spans
memtiles (a COUT-split core's results over every memtile's columns, a window's halo)
travels as packets to or from each of them on its own channels, so no channel needs the
memtile DMA's reach into its neighbours' memory.

When a memtile has fewer channels than concurrent streams of one kind, ``share`` streams
take turns on each channel, so the transfer takes ``share`` times as long (the cost
function, targets/aie2/cost.py, charges it). A tile whose channels cannot carry a phase
even so, or whose buffer descriptors or locks run out, is an error naming the tile, the
resource, what is needed and what is available.

Buffer descriptors: a memtile stream uses one per tile size it moves (the head, body
and tail of the streamed rows may differ) for each core it serves, a weight or DDR
stream one; even and odd channels draw on the two halves of the memtile's descriptors.
A core uses two (ping and pong) per tile size for each input and for its output, and
one for its weights. Input-channel chunks whose partial sums go through the memtile run
one after another, each behind a halting weight load, so descriptors are rewritten
between them: a program needs those of one chunk position at a time. Locks: each
memtile stream holds a producer/consumer pair; the core's lock chain is checked by
``aie2-form-lock-chains``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from math import ceil

from bsir.diagnostics import BsirError
from bsir.targets.aie2.cost import Shares
from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array

LOCKS_PER_STREAM = 2


class ChannelBudgetError(BsirError):
    """A tile needs more DMA channels, buffer descriptors or locks than it has."""

    def __init__(self, tile: str, resource: str, needed: int, available: int):
        self.tile, self.resource = tile, resource
        self.needed, self.available = needed, available
        super().__init__(f"{tile}: {needed} {resource} needed, {available} available")


def memtile_name(index: int) -> str:
    return f"memtile ({index},1)"


def core_name(row: int, col: int) -> str:
    return f"core ({col},{row + 2})"


def shim_name(col: int) -> str:
    return f"shim ({col},0)"


@dataclass(frozen=True)
class Streams:
    """The streams one memtile serves, by kind."""

    loadfm: int
    weights: int
    writes: int


@dataclass(frozen=True)
class ChannelPlan:
    """Which channels a layer's streams use on each kind of tile, and how many streams
    take turns on one channel (1: each its own)."""

    array: AIE2Array
    mode: str
    inputs: int
    weighted: bool
    broadcast_input: bool
    streams: Streams
    """Concurrent streams on the busiest memtile: inputs and results in the streamed
    phase, weights in the weight phase."""
    ddr_load: int        # S2MM channels of a memtile a DDR load (LOAD or LOADW) uses
    ddr_store: int       # MM2S channels of a memtile WRITE uses
    loadfm_channels: int
    weight_channels: int
    write_channels: int
    parts: int = 1
    """Output-row parts the core rows form (mapping.Split): each part's rows get their
    own input broadcast, and a part's rows split the channels (a weight stream per
    channel slice, of each column under "cout")."""

    @property
    def input_share(self) -> int:
        return ceil(self.streams.loadfm / self.loadfm_channels) if self.streams.loadfm else 1

    @property
    def weight_share(self) -> int:
        return ceil(self.streams.weights / self.weight_channels) if self.streams.weights else 1

    @property
    def write_share(self) -> int:
        return ceil(self.streams.writes / self.write_channels) if self.streams.writes else 1

    @property
    def shares(self) -> Shares:
        return Shares(self.input_share, self.weight_share, self.write_share)

    # ----------------------------------------------------------------- assignment

    @cached_property
    def _columns(self) -> tuple[tuple[int, int], ...]:
        """Per core column: the activation memtile serving it, and the column's place
        among the columns that memtile serves."""
        tiles = self.array.activation_memtiles
        memtiles = [tiles[self.array.column_memtile(c)] for c in range(self.array.cols)]
        return tuple((m, memtiles[:c].count(m)) for c, m in enumerate(memtiles))

    def route(self, stage: str, row: int, col: int) -> str:
        """The channels a core's transfer of ``stage`` (LOADFM, LOADWDM, WRITEFM) uses,
        as text: ``memtile (1,1) MM2S 0 -> core (1,2) S2MM 0``; ``(shared by N)`` when
        N streams take turns on the memtile's channel."""
        core = core_name(row, col)
        memtile, place = self._columns[col]
        slices = self.array.rows // self.parts
        if stage == "LOADFM":
            slot = row // slices if self.mode == "cout" else place * self.parts + row // slices
            if not self.broadcast_input:  # a stream of its own for every core
                slot = row * self.array.cols + col if self.mode == "cout" \
                    else slot * self.array.rows + row
            return f"{memtile_name(memtile)} MM2S " \
                   f"{slot % self.loadfm_channels} -> {core} S2MM 0{_turns(self.input_share)}"
        if stage == "LOADWDM":
            stream = {"w": row % slices, "cout": row % slices * self.array.cols + col,
                      "h": 0}[self.mode]
            tiles = self.array.weight_memtiles
            k = (stream // len(tiles)) % self.weight_channels
            return f"{memtile_name(tiles[stream % len(tiles)])} MM2S {k} -> {core} S2MM 0" \
                   f"{_turns(self.weight_share)}"
        slot = place * self.array.rows + row
        return f"{core} MM2S 0 -> {memtile_name(memtile)} S2MM " \
               f"{slot % self.write_channels}{_turns(self.write_share)}"

    def ddr_route(self, stage: str, memtile: int) -> str:
        """The channels of a DDR transfer (LOAD, LOADW, WRITE) into or out of a memtile."""
        shim, tile = shim_name(memtile), memtile_name(memtile)
        if stage == "WRITE":
            return f"{tile} MM2S {_span(0, self.ddr_store)} -> {shim} S2MM " \
                   f"{_span(0, self.ddr_store)}"
        first = self.ddr_load if stage == "LOADW" and self.array.memtile_mode == "shared" \
            else 0
        return f"{shim} MM2S {_span(first, self.ddr_load)} -> {tile} S2MM " \
               f"{_span(first, self.ddr_load)}"

    # ----------------------------------------------------------------- budgets

    def check_descriptors(self, in_sizes: int, out_sizes: int) -> None:
        """Raise :class:`ChannelBudgetError` when the buffer descriptors of a memtile or
        a core run out, or a memtile's locks, for a program whose streamed groups move
        ``in_sizes`` different input tiles and ``out_sizes`` different output tiles (a
        descriptor describes one size; the head, body and tail may share them)."""
        a = self.array
        shared = a.memtile_mode == "shared"
        tiles = [(a.activation_memtiles[0],
                  self._descriptors(in_sizes, out_sizes, activations=True, weights=shared))]
        if not shared:
            tiles.append((a.weight_memtiles[0],
                          self._descriptors(in_sizes, out_sizes, activations=False,
                                            weights=True)))
        half = a.memtile_bds // 2
        for memtile, (per_channel, streams) in tiles:
            for parity, side in ((0, "even"), (1, "odd")):
                used = sum(n for (_, k), n in per_channel.items() if k % 2 == parity)
                if used > half:
                    raise ChannelBudgetError(memtile_name(memtile),
                                             f"buffer descriptors of {side} channels",
                                             used, half)
            locks = LOCKS_PER_STREAM * streams
            if locks > a.locks_per_memtile:
                raise ChannelBudgetError(memtile_name(memtile), "locks", locks,
                                         a.locks_per_memtile)
        core = 2 * (in_sizes * self.inputs + out_sizes) + (1 if self.weighted else 0)
        if core > a.core_bds:
            raise ChannelBudgetError(core_name(0, 0), "buffer descriptors", core, a.core_bds)

    def fits(self, in_sizes: int, out_sizes: int) -> bool:
        """Whether :meth:`check_descriptors` passes."""
        try:
            self.check_descriptors(in_sizes, out_sizes)
        except ChannelBudgetError:
            return False
        return True

    def _descriptors(self, in_sizes: int, out_sizes: int, activations: bool, weights: bool
                     ) -> tuple[dict[tuple[str, int], int], int]:
        """Buffer descriptors on each (direction, channel) of a memtile, channels
        numbered as :meth:`route` and :meth:`ddr_route` give them, and the streams the
        memtile serves: one descriptor per tile size of each core a stream serves, one
        per weight or DDR stream."""
        used: dict[tuple[str, int], int] = {}
        streams = 0

        def deal(direction: str, count: int, channels: int, each: int, first: int = 0
                 ) -> None:
            nonlocal streams
            streams += count
            for k in range(channels):
                key = (direction, first + k)
                used[key] = used.get(key, 0) + each * _served_by(count, channels, k)

        if activations:
            deal("S2MM", self.inputs, self.ddr_load, 1)
            deal("MM2S", 1, self.ddr_store, 1)
            deal("MM2S", self.streams.loadfm, self.loadfm_channels, in_sizes)
            deal("S2MM", self.streams.writes, self.write_channels, out_sizes)
        if weights:
            shared_tile = activations
            deal("S2MM", 1, self.ddr_load, 1, self.ddr_load if shared_tile else 0)
            if self.streams.weights:
                deal("MM2S", self.streams.weights, self.weight_channels, 1)
        return used, streams


def _turns(share: int) -> str:
    return f" (shared by {share})" if share > 1 else ""


def _span(first: int, count: int) -> str:
    return str(first) if count == 1 else f"{first}..{first + count - 1}"


def _served_by(streams: int, channels: int, k: int) -> int:
    """Streams channel ``k`` of ``channels`` carries when ``streams`` are dealt round-robin."""
    return streams // channels + (1 if k < streams % channels else 0)


def layer_plan(shape: LayerShape, array: AIE2Array, mode: str, rows: int | None = None,
               sums_in_memtile: bool = False, parts: int = 1) -> ChannelPlan:
    """:func:`plan_channels` of a layer: a convolution or matrix product without groups
    reads every input channel, so the cores of a column share their input; a pool, an
    element-wise or a grouped layer reads the channels it writes, so every core gets its
    own. A layer whose partial sums come back from the memtile (``sums_in_memtile``)
    also streams every core its own sums, from its column's memtile."""
    return plan_channels(array, mode, shape.inputs, shape.weighted, rows,
                         broadcast_input=shape.weighted and shape.groups == 1,
                         sums=sums_in_memtile, residual=shape.residual, parts=parts)


@lru_cache(maxsize=4096)
def plan_channels(array: AIE2Array, mode: str, inputs: int = 1, weighted: bool = True,
                  rows: int | None = None, broadcast_input: bool = True,
                  sums: bool = False, residual: bool = False, parts: int = 1
                  ) -> ChannelPlan:
    """The channel plan of a layer split in ``mode`` ("w", "cout" or "h") over ``rows`` core
    rows (all by default; the others idle), reading ``inputs`` activation tensors, with
    weights or not, its input broadcast to the cores that share it or sent to each core
    on its own, and (``sums``) every core's partial sums or (``residual``) the residual
    of its outputs streamed to it besides; with ``parts`` > 1 (rows split into output-row
    parts) each part of the rows gets its own input broadcast and the weights one stream
    per channel slice. The LOADFM streams of a memtile then take turns on its channels
    as one kind. Raises :class:`ChannelBudgetError` when a tile's channels cannot carry
    one of its phases even shared. Memoised: the search asks it of every option, and
    plans are frozen."""
    a = array
    rows = a.rows if rows is None else max(rows, 1)
    shared = a.memtile_mode == "shared"
    ddr_load = 1 if shared else a.ddr_channels_per_memtile
    ddr_store = a.ddr_channels_per_memtile
    act_tile = memtile_name(a.activation_memtiles[0])
    # DDR phase: LOAD and LOADW side by side (on one memtile when shared)
    loads_in = 2 * ddr_load if shared else ddr_load
    if loads_in > a.memtile_s2mm:
        raise ChannelBudgetError(act_tile, "S2MM channels", loads_in, a.memtile_s2mm)
    if ddr_store > a.memtile_mm2s:
        raise ChannelBudgetError(act_tile, "MM2S channels", ddr_store, a.memtile_mm2s)
    if loads_in > a.shim_mm2s:
        raise ChannelBudgetError(shim_name(0), "MM2S channels", loads_in, a.shim_mm2s)
    if ddr_store > a.shim_s2mm:
        raise ChannelBudgetError(shim_name(0), "S2MM channels", ddr_store, a.shim_s2mm)
    cols_per_memtile = a.columns_per_memtile
    broadcast_input = broadcast_input and mode != "h"  # "h": every core its own rows
    if broadcast_input:
        loadfm = (cols_per_memtile if mode == "w" else 1) * parts
    else:
        loadfm = rows * (a.cols if mode == "cout" else cols_per_memtile)
    if broadcast_input:
        # a broadcast cannot carry what is a core's own: its partial sums (from its
        # column's memtile) and a fused addition's residual of its outputs get streams
        # of their own; a core's own input stream carries them after its input instead
        # (chained buffer descriptors, as LOADFM's bytes count them)
        if sums:
            loadfm += rows * cols_per_memtile
        if residual:
            loadfm += rows * (a.cols if mode == "cout" else cols_per_memtile)
    # weights: one stream per row (w), per core (cout), one for every core (h)
    streams = {"w": ceil(rows / parts), "cout": ceil(rows / parts) * a.cols, "h": 1}[mode]
    weights = ceil(streams / len(a.weight_memtiles)) if weighted else 0
    writes = rows * cols_per_memtile
    return ChannelPlan(a, mode, inputs, weighted, broadcast_input,
                       Streams(loadfm, weights, writes),
                       ddr_load, ddr_store, min(loadfm, a.memtile_mm2s),
                       min(max(weights, 1), a.memtile_mm2s), min(writes, a.memtile_s2mm),
                       parts)
