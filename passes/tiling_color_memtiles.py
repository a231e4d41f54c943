"""``tiling-color-memtiles``: place every tensor in memtile address ranges or DDR.

Walks the layers in schedule order tracking which activations are live (from their
producer to their last consumer) and gives each an address range, the same in every
memtile it spreads over, reusing freed space (first fit over live intervals). Views
share their input's bytes and the inputs of a concatenation are written in place into
its buffer. Weights occupy space only during their layer (in the weight memtiles when
memtiles are ``separate``).

When a layer's tensors do not fit, live tensors it does not read are evicted, the one
used furthest in the future first; one still needed later is spilled to DDR (an explicit
``spill`` transfer) and reloaded (``load``) by its next consumer. A layer tiled into
output-channel bands keeps its activations resident and loads one band of weights at a
time; a layer tiled into row bands, or whose activations do not fit, streams its input
from DDR and its output back to DDR, band by band. An element-wise layer writes its
output over an input that dies with it, a layer with a fused addition over its
residual. Graph inputs start in DDR; graph outputs end there.

A layer whose partial sums go through the memtile between input-channel chunks gets a
scratch range for them on the activation memtiles during the layer.

Each layer gets a ``#tiling.placement``: its inputs, weights and output as memtile
[address, bytes] or -1 for DDR, its scratch, and every live range on the memtiles during
the layer.

With ``prefetch=N`` (``bsir compile --overlap weights``), once every tensor is placed,
each layer's weights are moved where they can land while up to ``N`` layers before it
run: a range free during those layers (not live in them, not evicted by them) and during
the layer itself, its current one if it is. Nothing is evicted to make that room: the
activations keep every address they had. The weight load gets ``ahead`` (the layers it
runs under; a layer that loads its weights band by band prefetches its first band) and
the range joins those layers' ``live`` lists. Where no layer before leaves room for all
of them, the longest part that fits loads early (``early`` bytes a memtile, from
``early_at`` in its share) and the rest when the layer starts, into space the layers
before it free. A layer streamed through DDR (it lays out the memtiles itself) and a
prefetch across such a layer are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import tg, tiling
from bsir.dialects.record_attr import i64_attr
from bsir.dialects.tg import only_graph
from bsir.targets.aie2.hardware import AIE2Array, module_array
from bsir.targets.aie2.layer_shape import (
    ELEMENTWISE_OPS,
    VIEW_OPS,
    activation_operands,
    fused_add,
    layer_inputs,
    mapped_shape,
)
from bsir.targets.aie2.layout import distribution_of, in_place, value_views
from bsir.targets.aie2.mapping import Split, sums_layout
from bsir.targets.aie2.memtile_allocator import ALIGN, IntervalAllocator, align
from bsir.targets.aie2.program import DDRTiling, Subvolume

DDR = -1


def tile_bytes(value: SSAValue, tiles: int) -> int:
    """Bytes of an INT8 activation on the busiest of ``tiles`` memtiles."""
    return distribution_of(value, tiles).tile_bytes


def layer_scratch_bytes(layer: tiling.LayerOp, array: AIE2Array) -> int:
    """Bytes a layer keeps on a memtile for its partial sums (0: it keeps none there)."""
    if Subvolume.of(layer).sums_in_memtile:
        return sums_layout(mapped_shape(layer), Split.of(layer), array,
                           DDRTiling.of(layer)).tile_bytes
    return 0


def top_level(op: Operation, block) -> Operation:
    while op.parent_block() is not block:
        op = op.parent_op()  # type: ignore[assignment]
    return op


@dataclass
class Placed:
    """A colored layer, as a weight prefetch sees it: where its weights are, what its
    weights' memtiles hold during it, and what it evicted."""

    layer: tiling.LayerOp
    streamed: bool
    weights: tuple[int, int]            # [address, bytes]; address -1: none in memtile
    space: list[tuple[int, int]]        # live ranges of the memtiles holding weights
    evicted: list[tuple[int, int]]      # ranges emptied during the layer (spilled first)


@dataclass
class Buffer:
    """An allocation unit: a value and every value sharing its bytes."""

    root: SSAValue
    size: int
    last_use: int
    uses: list[int] = field(default_factory=list)
    address: int | None = None      # in memtile, or None
    in_ddr: bool = False            # a valid copy exists in DDR


class Colorer:
    """One walk over the schedule."""

    def __init__(self, graph: tg.GraphOp, array: AIE2Array):
        self.graph = graph
        self.array = array
        self.tiles = len(array.activation_memtiles)
        self.acts = IntervalAllocator(array.memtile_bytes)
        self.weights = self.acts if array.memtile_mode == "shared" \
            else IntervalAllocator(array.memtile_bytes)
        self.order = list(graph.block.ops)
        self.views = value_views(graph.block)
        self.buffers: dict[SSAValue, Buffer] = {}
        self.placed: list[Placed] = []
        self.evicted: list[tuple[int, int]] = []  # during the layer being colored
        self._build_buffers()

    # ------------------------------------------------------------------ buffers

    def find(self, value: SSAValue) -> SSAValue:
        return self.views[value].root

    def _build_buffers(self) -> None:
        block = self.graph.block
        for op in self.order:
            if isinstance(op, tg.ConcatOp):
                for index in range(len(op.inputs)):
                    if not in_place(self.views, op, index):
                        raise PassFailedException(
                            f"tiling-color-memtiles: input {index} of the concatenation "
                            f"%{op.output.name_hint or '?'} is not written in place (a "
                            "weight, a graph input, or a value joined twice: "
                            "convert-tg-to-tiling copies those in)")
        for index, op in enumerate(self.order):
            for value in op.results:
                root = self.find(value)
                if isinstance(root.owner, tg.WeightOp):
                    continue  # a weight, or a view of one: in DDR from the start if read
                if root not in self.buffers:
                    self.buffers[root] = Buffer(root, tile_bytes(root, self.tiles), index)
        for arg in block.args:
            root = self.find(arg)
            self.buffers.setdefault(root, Buffer(root, tile_bytes(root, self.tiles), -1))
            self.buffers[root].in_ddr = True
        for index, op in enumerate(self.order):
            for operand in self._activation_operands(op):
                root = self.find(operand)
                buffer = self.buffers.get(root)
                if buffer is None:  # a weight read as data: in DDR from the start
                    buffer = self.buffers[root] = Buffer(root, tile_bytes(root, self.tiles),
                                                         -1, in_ddr=True)
                buffer.uses.append(index)
                buffer.last_use = max(buffer.last_use, index)
        end = len(self.order)
        for value in self.graph.output.values:
            self.buffers[self.find(value)].last_use = end

    def _activation_operands(self, op: Operation) -> list[SSAValue]:
        if isinstance(op, tiling.LayerOp):
            values = layer_inputs(op)
        elif isinstance(op, (tg.OutputOp, tg.ConcatOp, tg.WeightOp, *VIEW_OPS)):
            return []
        else:
            values = activation_operands(op)
        seen, out = set(), []
        for value in values:
            if value not in seen:
                seen.add(value)
                out.append(value)
        return out

    # ------------------------------------------------------------------ walk

    def next_use(self, buffer: Buffer, index: int) -> float:
        later = [u for u in buffer.uses if u > index]
        if later:
            return later[0]
        return float("inf") if buffer.last_use <= index else buffer.last_use

    def evict_for(self, index: int, keep: set[SSAValue], layer: tiling.LayerOp,
                  allocator: IntervalAllocator) -> bool:
        """Evict one resident buffer not in ``keep``; spill it if needed later. Only
        activations are resident across layers, so only their memtiles can be freed."""
        if allocator is not self.acts:
            return False
        resident = [b for b in self.buffers.values()
                    if b.address is not None and b.root not in keep]
        if not resident:
            return False
        victim = max(resident, key=lambda b: (self.next_use(b, index), b.size))
        self.evicted.append(self.acts.ranges[victim.root])
        if victim.last_use > index and not victim.in_ddr:
            layer.body.block.insert_op_before(
                tiling.TransferOp("spill", str(victim.root.name_hint or "tensor"),
                                  victim.size, 1, victim.address),
                layer.body.block.last_op)
            victim.in_ddr = True
        self.acts.free(victim.root)
        victim.address = None
        return True

    def place(self, buffer: Buffer, index: int, keep: set[SSAValue],
              layer: tiling.LayerOp, from_top: bool = False) -> int | None:
        while True:
            address = self.acts.allocate(buffer.root, buffer.size, from_top)
            if address is not None:
                buffer.address = address
                return address
            if not self.evict_for(index, keep, layer, self.acts):
                return None

    def color_layer(self, index: int, layer: tiling.LayerOp) -> None:
        body = layer.body.block
        inputs = [self.buffers[self.find(v)] for v in self._activation_operands(layer)]
        output = self.buffers[self.find(layer.output)]
        passes = layer.ddr.get("h_passes") * layer.ddr.get("cout_passes")
        weight_bytes = sum(t.nbytes for t in layer.transfers("loadw"))
        transfers: list[tiling.TransferOp] = []
        weight_range = [DDR, 0]
        shared = self.reuse_in_place(index, layer, inputs, output)
        # Output-channel bands only stream weights (one band at a time); row bands
        # stream the activations too.
        streamed = layer.ddr.get("h_passes") > 1
        if not streamed:
            fitted, shared = self.fit(index, layer, inputs, output, transfers, shared)
            streamed = not fitted
        keep = {b.root for b in inputs} | {output.root}
        if not streamed and weight_bytes:
            address = self.allocate_during(index, ("weights", index), weight_bytes, keep,
                                           layer, self.weights)
            if address is None:
                streamed = True
            else:
                weight_range = [address, align(weight_bytes)]
        scratch_range = [DDR, 0]
        scratch_bytes = layer_scratch_bytes(layer, self.array)
        if not streamed and scratch_bytes:
            address = self.allocate_during(index, ("scratch", index), scratch_bytes, keep,
                                           layer, self.acts)
            if address is None:
                streamed = True
                self.weights.free(("weights", index))
            else:
                scratch_range = [address, align(scratch_bytes)]
        if streamed:
            transfers = self.stream(index, layer, inputs, output, passes)
            if weight_bytes:
                weight_range = [0, align(weight_bytes)]
            placements = [v for b in inputs for v in (DDR, align(b.size))]
            out_range = [DDR, align(output.size)]
        else:
            placements = [v for b in inputs for v in (
                output.address if b is shared else b.address, align(b.size))]
            out_range = [output.address, align(output.size)]
            output.in_ddr = False  # this layer writes it: a DDR copy is now stale
            if output.last_use >= len(self.order):
                transfers.append(tiling.TransferOp("store", "output", output.size, 1,
                                                   output.address))
                output.in_ddr = True
        for transfer in transfers:
            body.insert_op_before(transfer, body.last_op)
        live = [v for pair in self.acts.snapshot() for v in pair]
        weight_live = [] if self.weights is self.acts else \
            [v for pair in self.weights.snapshot() for v in pair]
        layer.properties["placement"] = tiling.PlacementAttr.make(
            inputs=placements, weights=weight_range, output=out_range, live=live,
            weight_live=weight_live, scratch=scratch_range)
        shared_memtiles = self.weights is self.acts
        self.placed.append(Placed(
            layer, streamed, (weight_range[0], weight_range[1]),
            tiling.PlacementAttr.pairs(tuple(live if shared_memtiles else weight_live)),
            self.evicted if shared_memtiles else []))
        self.evicted = []
        self.weights.free(("weights", index))
        self.acts.free(("scratch", index))
        if streamed and self.weights is not self.acts:
            self.weights.ranges.clear()
        for buffer in {id(b): b for b in (*inputs, output)}.values():
            if buffer.last_use <= index and buffer.address is not None:
                self.acts.free(buffer.root)
                buffer.address = None

    def allocate_during(self, index: int, key: tuple, nbytes: int, keep: set[SSAValue],
                        layer: tiling.LayerOp, allocator: IntervalAllocator) -> int | None:
        """Room for ``nbytes`` the layer holds while it runs (its weights, its partial
        sums), evicting tensors it does not read; None when even that leaves too little."""
        address = allocator.allocate(key, nbytes)
        while address is None and self.evict_for(index, keep, layer, allocator):
            address = allocator.allocate(key, nbytes)
        return address

    def reuse_in_place(self, index: int, layer: tiling.LayerOp, inputs: list[Buffer],
                       output: Buffer) -> Buffer | None:
        """An element-wise layer writes over a resident input that dies with it, a layer
        with a fused addition over its residual; returns that input, whose bytes become
        the output's."""
        if output.address is not None:
            return None
        if isinstance(layer.inner, ELEMENTWISE_OPS):
            candidates = inputs
        elif fused_add(layer.inner) is not None:  # never over the input its windows read
            *reads, residual = [self.find(v) for v in layer_inputs(layer)]
            candidates = [b for b in inputs if b.root is residual and residual not in reads]
        else:
            return None
        for buffer in candidates:
            if (buffer.address is not None and buffer.last_use == index
                    and buffer.size == output.size and buffer is not output):
                output.address = buffer.address
                self.acts.ranges[output.root] = self.acts.ranges.pop(buffer.root)
                buffer.address = None
                return buffer
        return None

    def fit(self, index: int, layer: tiling.LayerOp, inputs: list[Buffer], output: Buffer,
            transfers: list[tiling.TransferOp], shared: Buffer | None = None
            ) -> tuple[bool, Buffer | None]:
        """Make inputs and output resident, loading or evicting as needed; on failure
        undo what this layer placed and return False. ``shared`` is read in place; an
        input loaded here that the output may be written over (it dies with the layer)
        becomes the shared one. Returns success and the shared input."""
        keep = {b.root for b in inputs} | {output.root}
        placed: list[Buffer] = []
        for buffer in [*inputs, output]:
            if buffer is output and shared is None and output.address is None:
                shared = self.reuse_in_place(index, layer, inputs, output)
                if shared is not None:
                    placed.append(output)  # its bytes are the loaded input's now
            if buffer.address is not None or buffer in placed or buffer is shared:
                continue
            # The output goes to the end of the memtile opposite its first input.
            low = not inputs or inputs[0].address is None \
                or inputs[0].address < self.acts.capacity // 2
            from_top = buffer is output and low
            if self.place(buffer, index, keep, layer, from_top) is None:
                for undo in placed:
                    self.acts.free(undo.root)
                    undo.address = None
                transfers.clear()
                return False, None
            placed.append(buffer)
            if buffer is not output or buffer.in_ddr:  # an input, or a partial concat
                transfers.append(tiling.TransferOp("load", self._name(layer, buffer),
                                                   buffer.size, 1, buffer.address))
        return True, shared

    def stream(self, index: int, layer: tiling.LayerOp, inputs: list[Buffer],
               output: Buffer, passes: int) -> list[tiling.TransferOp]:
        """The layer runs band by band through DDR, with the memtiles to itself."""
        transfers: list[tiling.TransferOp] = []
        for buffer in inputs:
            if not buffer.in_ddr:  # it lives only in memtile: write it out first
                layer.body.block.insert_op_before(
                    tiling.TransferOp("spill", self._name(layer, buffer), buffer.size, 1,
                                      buffer.address),
                    layer.body.block.last_op)
                buffer.in_ddr = True
        while self.evict_for(index, set(), layer, self.acts):
            pass
        h_passes = max(1, layer.ddr.get("h_passes"))
        for buffer in inputs:
            transfers.append(tiling.TransferOp("load", self._name(layer, buffer),
                                               ceil(buffer.size / h_passes), passes))
        transfers.append(tiling.TransferOp("store", "output", ceil(output.size / passes),
                                           passes))
        output.in_ddr = True
        output.address = None
        return transfers

    def _name(self, layer: tiling.LayerOp, buffer: Buffer) -> str:
        for index, value in enumerate(self._activation_operands(layer)):
            if self.find(value) is buffer.root:
                return f"input{index}"
        return "output"  # a concatenation this layer writes into, reloaded

    def prefetch_weights(self, depth: int) -> None:
        """Move each layer's weights where they can load while up to ``depth`` layers
        before it run (see the module docstring), and mark its weight load ``ahead``."""
        capacity = self.array.memtile_bytes
        for position, placed in enumerate(self.placed):
            loads = placed.layer.transfers("loadw")
            address, size = placed.weights
            if placed.streamed or address < 0 or len(loads) != 1:
                continue
            options = []  # (bytes ahead, layers ahead, address) of partial prefetches
            for ahead in range(min(depth, position), 0, -1):
                between = self.placed[position - ahead:position]
                if any(other.streamed for other in between):
                    continue
                taken = [r for other in between for r in (*other.space, *other.evicted)]
                own = [r for r in placed.space if r != placed.weights]
                found = prefetch_range(taken, own, size, address, capacity)
                if found is not None:
                    options.append((found[2], ahead, found[0], found[1]))
                    if found[2] == size:  # all of it: the most layers ahead that fit it
                        break
            if not options:
                continue
            early, ahead, start, offset = max(options)
            early = min(early, loads[0].nbytes - offset)  # the range is aligned, not the load
            if early <= 0:
                continue
            placed.space[placed.space.index(placed.weights)] = (start, size)
            placed.weights = (start, size)
            for other in self.placed[position - ahead:position]:
                other.space.append((start + offset, align(early)))
            loads[0].properties["ahead"] = i64_attr(ahead)
            if early < loads[0].nbytes:
                loads[0].properties["early"] = i64_attr(early)
                if offset:
                    loads[0].properties["early_at"] = i64_attr(offset)
        shared_memtiles = self.weights is self.acts
        for placed in self.placed:
            values = placed.layer.placement.as_dict()
            space = sorted(placed.space)
            values["weights"] = list(placed.weights)
            values["live" if shared_memtiles else "weight_live"] = \
                [v for pair in space for v in pair]
            placed.layer.properties["placement"] = tiling.PlacementAttr.make(**values)

    def run(self) -> None:
        for index, op in enumerate(self.order):
            if isinstance(op, tiling.LayerOp):
                self.color_layer(index, op)
            elif isinstance(op, tg.LAYER_OPS) and not isinstance(op, VIEW_OPS) \
                    and not isinstance(op, tg.ConcatOp):
                raise PassFailedException(
                    f"'{op.name}' is not mapped: run convert-tg-to-tiling first")


def prefetch_range(taken: list[tuple[int, int]], own: list[tuple[int, int]], size: int,
                   preferred: int, capacity: int) -> tuple[int, int, int] | None:
    """Where a layer's ``size`` bytes of weights go, and which part of them can load
    early: (address, offset of that part, its bytes; a multiple of the alignment). The
    whole range must miss the layer's ``own`` other ranges, the part loaded early the
    ``taken`` ranges of the layers it loads under. All of it where it fits
    (``preferred`` first), else the longest part; None when not even one aligned
    piece can."""
    whole = free_range(taken + own, size, preferred, capacity)
    if whole is not None:
        return whole, 0, size
    spans = sorted((start, start + length) for start, length in taken)
    mine = [(start, start + length) for start, length in own]
    edges = {preferred, 0, *(b for _, b in spans), *(b for _, b in mine),
             *(a - size for a, _ in spans), *(a - size for a, _ in mine)}
    best: tuple[int, int, int] | None = None
    for start in sorted(edge for edge in edges if edge >= 0 and edge % ALIGN == 0):
        end = start + size
        if end > capacity or any(a < end and start < b for a, b in mine):
            continue
        cursor = start  # the longest gap the taken ranges leave inside [start, end)
        for a, b in [*spans, (end, end)]:
            if b <= cursor:
                continue
            gap = (min(a, end) - cursor) // ALIGN * ALIGN
            if gap > 0 and (best is None or gap > best[2]):
                best = (start, cursor - start, gap)
            cursor = max(cursor, b)
            if cursor >= end:
                break
    return best


def free_range(taken: list[tuple[int, int]], size: int, preferred: int, capacity: int
               ) -> int | None:
    """An address where ``size`` bytes overlap none of the ``taken`` (address, bytes)
    ranges: ``preferred`` if it is free, else the lowest that is; None when none is."""
    ends = sorted((start, start + length) for start, length in taken)
    if preferred + size <= capacity and all(
            end <= preferred or start >= preferred + size for start, end in ends):
        return preferred
    occupied = IntervalAllocator(capacity)
    occupied.ranges = {index: (start, end - start) for index, (start, end) in enumerate(ends)}
    return occupied.allocate("prefetch", size)


@dataclass(frozen=True)
class TilingColorMemtilesPass(ModulePass):
    """Assign memtile address ranges (or DDR) to every tensor, with explicit spills;
    with ``prefetch`` > 0, let weights load up to that many layers early into free space."""

    name = "tiling-color-memtiles"

    prefetch: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.prefetch < 0:
            raise PassFailedException(
                f"tiling-color-memtiles: prefetch is a count of layers, got {self.prefetch}")
        array = module_array(op)
        graph = only_graph(op)
        for layer in graph.block.ops:
            if isinstance(layer, tiling.LayerOp) and layer.placement is not None:
                raise PassFailedException("tiling-color-memtiles: the module is already placed")
        colorer = Colorer(graph, array)
        colorer.run()
        if self.prefetch:
            colorer.prefetch_weights(self.prefetch)
