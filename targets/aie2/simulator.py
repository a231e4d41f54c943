"""A functional simulator of the AIE2 program: real bytes at real addresses.

Memories, as the hardware model sizes them: DDR (the host's buffers: the quantized
network input, every layer's weight image, a home for each activation that goes to
DDR), the memtiles and each core's memory. Every byte has a *written* flag and, on the
memtiles, an *owner* (the tensor it belongs to, or free), so the simulator can report

- a read of bytes never written, or of bytes that belong to another tensor;
- an access outside a memory or outside the core buffer it names;
- a write over bytes of a live tensor (a clobber);
- lock misuse: a deadlock, a lock not back at its initial count after a stream, and
  ping/pong misuse (a load into a buffer not yet consumed, a compute on a buffer not
  loaded, a store of a buffer not computed);

each as one line naming the layer and the instruction (with its IR location).

Instructions run as the loop nest :mod:`bsir.targets.aie2.schedule` describes. LOADFM,
COMP and WRITEFM are three processes chained by the layer's core locks (counting
semaphores, initial counts from ``#aie2.locks``); the simulator fires them eagerly,
loads first, so a lock that lets a load run too far ahead is caught as a clobber.
LOADWDM halts the cores: every step before it has drained. All cores run the same
instruction streams in lock-step, each on its own chunk (numpy over whole subvolumes).

COMP reads its input and output buffers at the core's fixed layout
(``CoreLayout``), decodes the compacted weights the core holds, accumulates in int32
and requantizes as :mod:`bsir.layers` does, so the result can be compared bit for bit
with the reference executor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import ceil

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from bsir import quant
from bsir.diagnostics import BsirError, op_location
from bsir.dialects import aie2, tg
from bsir.dialects.tg import only_graph
from bsir.executor import Executor, operands_of
from bsir.targets.aie2 import core_kernels
from bsir.targets.aie2.geometry import PARTIAL_SUM_BYTES, LayerShape
from bsir.targets.aie2.hardware import CoreLayout, module_array
from bsir.targets.aie2.layer_shape import (
    ELEMENTWISE_OPS,
    activation_operands,
    hwc,
    layer_inputs,
    mapped_shape,
    parameters,
)
from bsir.targets.aie2.layout import Distribution, View, value_views
from bsir.targets.aie2.mapping import Split, SumsLayout, sums_layout
from bsir.targets.aie2.memtile_allocator import align
from bsir.targets.aie2.program import DDRTiling, Subvolume
from bsir.targets.aie2.schedule import Chunk, Pass, Step, layer_passes
from bsir.targets.aie2.weight_image import WeightImage, band_image

FREE = 0
DDR_ALIGN = 4096


class SimulationError(BsirError):
    """The program does something the hardware would not allow, or computes wrongly."""


class LayerSimulationError(SimulationError):
    """A :class:`SimulationError` already attributed to the layer it happened in."""


LayerObserver = Callable[[aie2.LayerOp, np.ndarray], None]


def describe(op: aie2.InstructionOp) -> str:
    """``LOADFM body`` and the op's fields, as in the IR."""
    fields = " ".join(f"{key} {op.field(key)}" for key in aie2.FIELDS if key in op.properties)
    return f"{op.name.split('.')[1].upper()} {op.phase.data} {fields}"


@dataclass
class Region:
    """A host buffer in DDR."""

    address: int
    data: np.ndarray
    written: np.ndarray


@dataclass
class Buffer:
    """Where an activation (or a band of it) lies in the memtiles for this layer."""

    value: SSAValue
    base: int
    dist: Distribution
    rows: int = 0            # first row of the value the buffer holds (bands)
    channels: int = 0        # first channel (bands)
    view: View | None = None  # None: the buffer is in the value's own index space

    def locate(self, hh, ww, cc) -> tuple[np.ndarray, np.ndarray]:
        if self.view is not None:
            hh, ww, cc = self.view.to_root(hh, ww, cc)
        tile, offset = self.dist.locate(hh - self.rows, ww, cc - self.channels)
        return tile, self.base + offset


@dataclass
class LayerState:
    """What one layer's simulation needs."""

    layer: aie2.LayerOp
    index: int
    geometry: LayerShape
    inputs: list[SSAValue]
    output: SSAValue
    streamed: bool
    images: list[WeightImage]
    in_buffers: dict[int, Buffer] = field(default_factory=dict)
    out_buffer: Buffer | None = None
    weight_piece: int = 0
    image: WeightImage | None = None
    in_place: set[int] = field(default_factory=set)
    steps_done: int = 0      # stream steps so far (input ping/pong parity)
    computed: bool = False   # the stream has run
    in_held: list[int | None] = field(default_factory=lambda: [None, None])
    out_held: list[tuple[str, int] | None] = field(default_factory=lambda: [None, None])
    sums: SumsLayout | None = None  # partial sums kept in the memtile between chunks
    scratch_tile: int = 0  # bytes of a tile's partial-sum slot in the core (0: none)
    current: Pass | None = None     # the DDR pass running
    residual: SSAValue | None = None  # the other operand of a fused addition
    residual_buffer: Buffer | None = None
    weights_moved: int = 0  # bytes of every weight load, the largest chunk of each

    @property
    def reads(self) -> list[SSAValue]:
        """The activations the layer reads, each once, in its placement's order: its
        op's inputs, then a fused addition's residual."""
        extra = [self.residual] if self.residual is not None else []
        return list(dict.fromkeys([*self.inputs, *extra]))


class Simulator:
    """Runs a lowered module (``aie2.layer`` ops) on its weights."""

    def __init__(self, module: ModuleOp, weights: dict[str, np.ndarray]):
        self.array = module_array(module)
        self.graph = only_graph(module)
        self.weights = weights
        self.executor = Executor(module, weights)
        self.views = value_views(self.graph.block)
        a = self.array
        self.act_tiles = list(a.activation_memtiles)
        self.weight_tiles = list(a.weight_memtiles)
        self.memtile = np.zeros((a.memtiles, a.memtile_bytes), np.uint8)
        self.memtile_written = np.zeros(self.memtile.shape, bool)
        self.owner = np.zeros(self.memtile.shape, np.int32)
        self.core = np.zeros((a.rows, a.cols, a.core_memory), np.uint8)
        self.core_written = np.zeros(self.core.shape, bool)
        self.layout = CoreLayout.of(a)
        self.resident: dict[int, tuple[int, int]] = {}  # tensor -> (address, bytes)
        self.ddr: dict[object, Region] = {}
        self.ddr_top = 0
        self.ids: dict[object, int] = {}
        self.names: dict[int, str] = {FREE: "nothing"}
        self.last_use: dict[SSAValue, int] = {}
        self.signalled: dict[int, aie2.LayerOp] = {}  # weight-memtile lock -> its layer
        self.landed: dict[aie2.LayerOp, tuple[WeightImage, int]] = {}  # prefetched weights
        ops = list(self.graph.block.ops)
        for index, op in enumerate(ops):
            for value in operands_of(op):
                self.last_use[self.views[value].root] = index
        for value in self.graph.output.values:
            self.last_use[self.views[value].root] = len(ops)

    # ------------------------------------------------------------------ identities

    def tensor_id(self, key: object, name: str) -> int:
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1
            self.names[self.ids[key]] = name
        return self.ids[key]

    def root_id(self, value: SSAValue) -> int:
        root = self.views[value].root
        return self.tensor_id(root, tensor_name(root))

    # ------------------------------------------------------------------ DDR

    def ddr_region(self, key: object, size: int) -> Region:
        if key not in self.ddr:
            self.ddr[key] = Region(self.ddr_top, np.zeros(size, np.uint8), np.zeros(size, bool))
            self.ddr_top += -(-size // DDR_ALIGN) * DDR_ALIGN
        return self.ddr[key]

    def home(self, value: SSAValue) -> tuple[Region, View]:
        """The DDR home of a value's root (dense NHWC int8) and the value's view."""
        view = self.views[value]
        h, w, c = hwc(view.root)
        return self.ddr_region(("tensor", view.root), h * w * c), view

    def ddr_offsets(self, value: SSAValue, hh, ww, cc) -> tuple[Region, np.ndarray]:
        region, view = self.home(value)
        _, w, c = hwc(view.root)
        rh, rw, rc = view.to_root(hh, ww, cc)
        return region, (rh * w + rw) * c + rc

    # ------------------------------------------------------------------ memtile access

    def memtiles_of(self, tiles: np.ndarray, address: np.ndarray, what: str,
                    tile_ids: Sequence[int] | None) -> np.ndarray:
        """Memtile numbers of tile indices (activation memtiles unless ``tile_ids``),
        after checking that every access lies inside a memtile."""
        ids = np.asarray(tile_ids if tile_ids is not None else self.act_tiles)
        if tiles.size and (tiles.max() >= len(ids) or address.min() < 0
                           or address.max() >= self.array.memtile_bytes):
            raise SimulationError(f"{what} outside the memtiles (address "
                                  f"{int(address.min())}..{int(address.max())})")
        return ids[tiles]

    def read_memtile(self, tiles: np.ndarray, address: np.ndarray, expect: int, what: str,
                     tile_ids: Sequence[int] | None = None) -> np.ndarray:
        memtiles = self.memtiles_of(tiles, address, f"{what} reads", tile_ids)
        written = self.memtile_written[memtiles, address]
        if not written.all():
            bad = np.argmin(written)
            raise SimulationError(f"{what} reads never-written bytes (memtile "
                                  f"{int(memtiles.flat[bad])} address {int(address.flat[bad])})")
        owners = self.owner[memtiles, address]
        if (owners != expect).any():
            bad = int(np.argmax(owners != expect))
            raise SimulationError(
                f"{what} reads bytes of {self.names[int(owners.flat[bad])]} where "
                f"{self.names[expect]} should be (memtile {int(memtiles.flat[bad])} address "
                f"{int(address.flat[bad])})")
        return self.memtile[memtiles, address]

    def write_memtile(self, tiles: np.ndarray, address: np.ndarray, data: np.ndarray,
                      owner: int, what: str, allowed: set[int] = frozenset(),
                      tile_ids: Sequence[int] | None = None) -> None:
        memtiles = self.memtiles_of(tiles, address, f"{what} writes", tile_ids)
        owners = self.owner[memtiles, address]
        clobber = (owners != FREE) & (owners != owner)
        for ok in allowed:
            clobber &= owners != ok
        if clobber.any():
            bad = int(np.argmax(clobber))
            raise SimulationError(
                f"{what} clobbers live {self.names[int(owners.flat[bad])]} (memtile "
                f"{int(memtiles.flat[bad])} address {int(address.flat[bad])})")
        self.memtile[memtiles, address] = np.asarray(data).reshape(memtiles.shape)
        self.memtile_written[memtiles, address] = True
        self.owner[memtiles, address] = owner

    def free(self, owner: int) -> None:
        self.owner[self.owner == owner] = FREE
        self.resident.pop(owner, None)

    # ------------------------------------------------------------------ core access

    def core_range(self, what: str, start: int, size: int, limit: int | None = None) -> None:
        end = start + size
        if start < 0 or end > self.array.core_memory:
            raise SimulationError(f"{what} accesses core memory [{start}, {end}), outside the "
                                  f"{self.array.core_memory}-byte core")
        if limit is not None and size > limit:
            raise SimulationError(f"{what} moves {size} bytes, more than its {limit}")

    def read_core(self, core: tuple[int, int], start: int, size: int, what: str) -> np.ndarray:
        self.core_range(what, start, size)
        r, c = core
        if not self.core_written[r, c, start:start + size].all():
            raise SimulationError(f"{what} reads never-written bytes of core {r},{c} "
                                  f"[{start}, {start + size})")
        return self.core[r, c, start:start + size].copy()

    def write_core(self, core: tuple[int, int], start: int, data: np.ndarray, what: str,
                   limit: int | None = None) -> None:
        self.core_range(what, start, data.size, limit)
        r, c = core
        self.core[r, c, start:start + data.size] = data
        self.core_written[r, c, start:start + data.size] = True

    # ------------------------------------------------------------------ network

    def run(self, inputs: Sequence[np.ndarray], observe: LayerObserver | None = None
            ) -> list[np.ndarray]:
        """Simulate the program on float (or int8) graph inputs; returns the outputs as
        the host reads them back (dequantized where the graph dequantizes)."""
        args = self.graph.block.args
        if len(inputs) != len(args):
            raise BsirError(f"the graph takes {len(args)} input(s), {len(inputs)} given")
        for arg, array in zip(args, inputs, strict=True):
            self.host_write_input(arg, np.asarray(array))
        for value in self.data_weights():
            self.host_write_data(value)
        ops = list(self.graph.block.ops)
        issued = prefetches_by_layer([op for op in ops if isinstance(op, aie2.LayerOp)])
        position = 0
        for index, op in enumerate(ops):
            if isinstance(op, aie2.LayerOp):
                self.issue_prefetches(issued.get(position, []))
                position += 1
                self.run_layer(index, op)
                if observe is not None:
                    observe(op, self.read_back(op))
                self.release_dead(index)
            elif isinstance(op, tg.OutputOp):
                return [self.host_read_output(value) for value in op.values]
            elif isinstance(op, tg.LAYER_OPS) and not isinstance(
                    op, (tg.ConcatOp, tg.FlattenOp, tg.ReshapeOp, tg.QuantizeOp,
                         tg.DequantizeOp)):
                raise SimulationError(f"'{op.name}' is not lowered to aie2 instructions",
                                      op_location(op))
        raise BsirError("the graph has no tg.output")

    def host_write_input(self, arg: SSAValue, array: np.ndarray) -> None:
        """The host quantizes the input (the graph's tg.quantize) and writes it to DDR."""
        quantizers = [use.operation for use in arg.uses
                      if isinstance(use.operation, tg.QuantizeOp)]
        if quantizers:
            array = quant.quantize(array, quantizers[0].fix_position)
        elif array.dtype != np.int8:
            raise SimulationError("the graph input is not quantized: compile an int8 graph")
        self.host_write(arg, array)

    def host_write(self, value: SSAValue, array: np.ndarray) -> None:
        """The host writes an int8 tensor to the DDR home of ``value``."""
        region, _ = self.home(value)
        region.data[:] = array.reshape(-1).view(np.uint8)
        region.written[:] = True

    def data_weights(self) -> list[SSAValue]:
        """The weights some layer reads as data (activations in DDR from the start)."""
        found: dict[SSAValue, None] = {}
        for op in self.graph.block.ops:
            reads = layer_inputs(op) if isinstance(op, aie2.LayerOp) \
                else activation_operands(op)
            for value in reads:
                root = self.views[value].root  # a weight, or a view of one
                if isinstance(root.owner, tg.WeightOp):
                    found[root] = None
        return list(found)

    def host_write_data(self, value: SSAValue) -> None:
        """The host writes a weight read as data (int8, quantized at compile time) to
        its DDR home, as it writes a graph input."""
        key = value.owner.key.data  # type: ignore[union-attr]
        array = np.asarray(self.weights[key])
        if array.dtype != np.int8:
            raise SimulationError(f"weight '{key}' is read as data but is not int8: "
                                  "compile an int8 graph")
        self.host_write(value, array)

    def host_read_output(self, value: SSAValue) -> np.ndarray:
        fix = None
        if isinstance(value.owner, tg.DequantizeOp):
            fix = value.owner.fix_position
            value = value.owner.input
        hh, ww, cc = whole(value)
        region, offsets = self.ddr_offsets(value, hh, ww, cc)
        if not region.written[offsets].all():
            raise SimulationError(f"the output %{value.name_hint} was never written to DDR")
        data = region.data[offsets].view(np.int8).reshape(tg.tensor_shape(value))
        return quant.dequantize(data, fix) if fix is not None else data

    def read_back(self, layer: aie2.LayerOp) -> np.ndarray:
        """A layer's output as stored (memtile if resident, else DDR), NHWC."""
        value = layer.output
        hh, ww, cc = whole(value)
        out = layer.placement.get("output")
        if out[0] >= 0:
            tiles, address = self.resident_buffer(value, out[0]).locate(hh, ww, cc)
            data = self.memtile[np.asarray(self.act_tiles)[tiles], address]
        else:
            region, offsets = self.ddr_offsets(value, hh, ww, cc)
            data = region.data[offsets]
        return data.view(np.int8).reshape(tg.tensor_shape(value))

    def resident_buffer(self, value: SSAValue, base: int) -> Buffer:
        """``value`` inside its root, resident from ``base`` on the activation memtiles."""
        view = self.views[value]
        return Buffer(value, base, Distribution(*hwc(view.root), len(self.act_tiles)),
                      view=view)

    def release_dead(self, index: int) -> None:
        for root, last in self.last_use.items():
            if last == index:
                self.free(self.root_id(root))

    # ------------------------------------------------------------------ one layer

    def run_layer(self, index: int, layer: aie2.LayerOp) -> None:
        name = layer.layer_name.data
        try:
            self._run_layer(index, layer)
        except core_kernels.AccumulatorOverflow as error:
            raise LayerSimulationError(f"layer '{name}': COMP: {error}",
                                       op_location(layer)) from None
        except LayerSimulationError:
            raise
        except SimulationError as error:
            raise LayerSimulationError(f"layer '{name}': {error.message}",
                                       error.where or op_location(layer)) from None

    def _run_layer(self, index: int, layer: aie2.LayerOp) -> None:
        inner = layer.inner
        moves = isinstance(inner, tg.MOVE_OPS) and inner.results[0].type.element_type == tg.INT8
        if getattr(inner, "quant", None) is None and not moves:
            raise SimulationError("the layer is not quantized: the simulator runs int8 "
                                  "programs (compile with quantization)")
        geometry = mapped_shape(layer)
        inputs = activation_operands(inner)
        state = LayerState(layer, index, geometry, inputs, layer.output,
                           layer.placement.get("output")[0] < 0, [])
        passes = list(layer_passes(layer, geometry, self.array.rows, self.array.cols))
        sub = Subvolume.of(layer)
        if sub.sums_in_memtile:
            state.sums = sums_layout(geometry, Split.of(layer), self.array,
                                     DDRTiling.of(layer))
        if sub.sums_in_scratch:
            state.scratch_tile = sub.h * sub.w * sub.cout * PARTIAL_SUM_BYTES
        if geometry.residual:
            state.residual = layer_inputs(layer)[-1]
            if state.streamed or self.last_use.get(self.views[state.residual].root) == index:
                state.in_place = {self.root_id(state.residual)}  # the output goes over it
        if geometry.weighted:
            state.images = self.weight_images(layer, passes)
        if isinstance(inner, ELEMENTWISE_OPS):  # may write over an input it reads last
            state.in_place = {self.root_id(v) for v in inputs
                              if state.streamed
                              or self.last_use.get(self.views[v].root) == index}
        program = layer.instructions
        stream = [i for i, op in enumerate(program)
                  if isinstance(op, aie2.LoadFMOp | aie2.CompOp | aie2.WriteFMOp
                                | aie2.LoadWDMOp)]
        first = stream[0] if stream else len(program)
        ddr_ops = [(i, op) for i, op in enumerate(program)
                   if isinstance(op, aie2.LoadOp | aie2.LoadWOp | aie2.WriteOp)]
        count = len(passes)

        def per_pass(op: aie2.InstructionOp) -> bool:
            return op.iterations == count

        # Before the stream: spills (once), then loads: whole tensors once, bands and
        # weights once per pass. After it: stores, once or (streamed) a band per pass.
        before = [op for i, op in ddr_ops if i < first]
        after = [op for i, op in ddr_ops if i > first]
        spills = [op for op in before if isinstance(op, aie2.WriteOp)]
        loads = [op for op in before if not isinstance(op, aie2.WriteOp)]
        for op in spills:  # they make the room the allocator planned
            self.ddr_instruction(state, op, None, 0)
        self.evict_unplanned(layer)
        for op in loads:
            if not per_pass(op):
                self.ddr_instruction(state, op, None, 0)
        for number, current in enumerate(passes):
            loaded = 0
            for op in loads:
                if per_pass(op):
                    loaded = self.ddr_instruction(state, op, current, loaded)
            self.run_pass(state, current, program, number)
            state.computed = True
            if state.streamed:
                for op in after:
                    self.ddr_instruction(state, op, current, 0)
                # the pass's band buffers are done with: these tensors live in DDR
                for value in (*inputs, layer.output):
                    self.free(self.root_id(value))
        for op in after:
            if not state.streamed:
                self.ddr_instruction(state, op, None, 0)
        self.check_weights_moved(state, program)
        self.free(self.tensor_id(("weights", layer), f"the weights of '{layer.layer_name.data}'"))
        for lock in [k for k, owner in self.signalled.items() if owner is layer]:
            del self.signalled[lock]  # the layer is done with its weights
        if state.sums is not None:
            self.free(self.sums_id(state))

    @staticmethod
    def check_weights_moved(state: LayerState, program: list[aie2.InstructionOp]) -> None:
        """The estimate charges every weight byte the cores load: LOADWDM's ``moved`` is
        at least the sum, over its loads, of the largest chunk a core took."""
        for op in program:
            if isinstance(op, aie2.LoadWDMOp) and state.weights_moved > op.moved_bytes:
                raise SimulationError(
                    f"{describe(op)}: the cores' weight loads move {state.weights_moved} "
                    f"bytes, more than the {op.moved_bytes} it charges", op_location(op))

    def sums_id(self, state: LayerState) -> int:
        """The owner id of a layer's partial sums in the memtiles."""
        return self.tensor_id(("sums", state.layer),
                              f"the partial sums of '{state.layer.layer_name.data}'")

    def sums_address(self, state: LayerState, core: tuple[int, int], chunk: Chunk,
                     base: int) -> tuple[np.ndarray, np.ndarray]:
        """(memtile index, address) of the 4 bytes of each partial sum of a core's chunk
        in the scratch at ``base``."""
        assert state.sums is not None and state.current is not None
        h0, w0, c0 = state.current.origins[core]
        hh, ww, cc = output_indices(chunk)
        tiles, offsets = state.sums.locate(core[0], core[1], hh - h0, ww - w0, cc - c0)
        return tiles, base + offsets

    def evict_unplanned(self, layer: aie2.LayerOp) -> None:
        """Tensors the allocator no longer keeps in the memtiles during this layer (its
        ``live`` ranges) are gone from them: a later read must reload them."""
        live = pairs(layer.placement.get("live"))
        keep = np.zeros(self.array.memtile_bytes, bool)
        for address, size in live:
            keep[address:address + size] = True
        for tile in self.act_tiles:
            self.owner[tile, ~keep] = FREE
        for owner, placed in list(self.resident.items()):
            if placed not in live:  # its range went to another tensor
                self.free(owner)

    def issue_prefetches(self, loads: list[tuple[aie2.LayerOp, aie2.InstructionOp]]
                         ) -> None:
        """Before a layer runs, the weight loads issued under it (later layers',
        ``ahead``) land, at once: the harshest order the locks allow, so a prefetch into
        bytes a layer still uses is caught."""
        for later, op in loads:
            try:
                self.prefetch(later, op)
            except SimulationError as error:
                raise LayerSimulationError(
                    f"layer '{later.layer_name.data}': {describe(op)} (ahead): "
                    f"{error.message}", op_location(op)) from None

    def prefetch(self, layer: aie2.LayerOp, op: aie2.InstructionOp) -> None:
        """A weight load issued ahead: the first pass's band lands in the memtiles and
        releases its lock (``signal``)."""
        geometry = mapped_shape(layer)
        passes = list(layer_passes(layer, geometry, self.array.rows, self.array.cols))
        images = self.weight_images(layer, passes)
        image = next(i for i in images if (i.c0, i.c1) == passes[0].channels)
        owner = self.tensor_id(("weights", layer),
                               f"the weights of '{layer.layer_name.data}'")
        piece = self.write_weights(image, layer, op, owner, part=(
            op.field("early_at"), op.field("early_at") + op.field("early", op.nbytes)))
        self.landed[layer] = (image, piece)
        if "signal" in op.properties:
            self.signalled[op.field("signal")] = layer

    def weight_images(self, layer: aie2.LayerOp, passes: list[Pass]) -> list[WeightImage]:
        """The host's weight images of every COUT band, placed in DDR."""
        inner = layer.inner
        weight_value, bias_value = parameters(inner)
        assert weight_value is not None
        weight = self.weights[weight_value.owner.key.data]
        if not isinstance(inner, tg.WEIGHTED_OPS):  # one value per channel
            weight = weight.reshape(-1)
        bias = self.weights[bias_value.owner.key.data] if bias_value is not None else None
        sparsity = getattr(inner, "sparsity", None) if layer.keeps_zeros is None else None
        mask = sparsity.mask_array() if sparsity is not None else None
        block = sparsity.block_shape if sparsity is not None else (1, 1)
        bands = sorted({p.channels for p in passes})
        images = [band_image(weight, bias, c0, c1, mask, block) for c0, c1 in bands]
        for image in images:
            region = self.ddr_region(("weights", layer, image.c0), image.data.size)
            region.data[:] = image.data
            region.written[:] = True
        return images

    # ------------------------------------------------------------------ DDR instructions

    def ddr_instruction(self, state: LayerState, op: aie2.InstructionOp, current: Pass | None,
                        loads: int) -> int:
        what = describe(op)
        try:
            if isinstance(op, aie2.LoadWOp):
                self.loadw(state, op, current)
            elif isinstance(op, aie2.LoadOp):
                if state.streamed and current is not None:
                    self.load_band(state, op, current, loads)
                    return loads + 1
                self.load_resident(state, op)
            elif state.streamed and current is not None:
                self.write_band(state, op, current)
            else:  # before the stream a WRITE spills; after it, it stores the result
                self.write_resident(state, op, spill=not state.computed)
        except SimulationError as error:
            raise SimulationError(f"{what}: {error.message}", op_location(op)) from None
        return loads

    def weights_id(self, state: LayerState) -> int:
        """The owner id of the layer's weights in the weight memtiles."""
        return self.tensor_id(("weights", state.layer),
                              f"the weights of '{state.layer.layer_name.data}'")

    @staticmethod
    def pass_image(state: LayerState, current: Pass | None) -> WeightImage:
        """The weight image of the pass's COUT band."""
        return state.images[0] if current is None else \
            next(i for i in state.images if (i.c0, i.c1) == current.channels)

    def loadw(self, state: LayerState, op: aie2.InstructionOp, current: Pass | None) -> None:
        image = self.pass_image(state, current)
        if op.field("ahead") and not state.computed:  # the first band came ahead
            landed = self.landed.pop(state.layer, None)
            if landed is None or (landed[0].c0, landed[0].c1) != (image.c0, image.c1):
                raise SimulationError("its weights load ahead, but no earlier layer issued "
                                      "the load")
            state.image, state.weight_piece = landed
            if "early" in op.properties:  # the rest of each memtile's share loads now
                self.write_weights(image, state.layer, op, self.weights_id(state), part=(
                    op.field("early_at"), op.field("early_at") + op.field("early")),
                    rest=True)
            return
        piece = self.write_weights(image, state.layer, op, self.weights_id(state))
        state.image, state.weight_piece = image, piece

    def write_weights(self, image: WeightImage, layer: aie2.LayerOp, op: aie2.InstructionOp,
                      owner: int, part: tuple[int, int] | None = None, rest: bool = False
                      ) -> int:
        """LOADW of a band's weight image into the weight memtiles (with ``part``, only
        the bytes of each memtile's share at those offsets; with ``rest`` too, only the
        others); returns the bytes per memtile."""
        region = self.ddr[("weights", layer, image.c0)]
        piece = ceil(image.data.size / len(self.weight_tiles))
        if piece > op.nbytes:
            raise SimulationError(f"the weight image needs {piece} bytes per memtile, the "
                                  f"instruction moves {op.nbytes}")
        offsets = np.arange(image.data.size)
        if not rest:
            self.free(owner)
        keep = np.ones(offsets.size, bool)
        if part is not None:
            keep = (offsets % piece >= part[0]) & (offsets % piece < part[1])
            keep = ~keep if rest else keep
        offsets = offsets[keep]
        self.write_memtile(offsets // piece, op.field("memtile") + offsets % piece,
                           region.data[keep], owner, "LOADW", tile_ids=self.weight_tiles)
        return piece

    def load_resident(self, state: LayerState, op: aie2.InstructionOp) -> None:
        """A whole tensor from its DDR home into its placement."""
        address = op.field("memtile")
        place = state.layer.placement.as_dict()
        candidates = [v for v, (a, _) in zip(state.reads, pairs(place["inputs"]),
                                             strict=False) if a == address]
        if place["output"][0] == address:
            candidates.append(state.output)
        if not candidates:
            raise SimulationError(f"memtile address {address} holds none of the layer's tensors")
        root = self.views[candidates[0]].root
        dist = Distribution(*hwc(root), len(self.act_tiles))
        if dist.tile_bytes > op.nbytes:
            raise SimulationError(f"{dist.tile_bytes} bytes per memtile are needed, the "
                                  f"instruction moves {op.nbytes}")
        hh, ww, cc = whole(root)
        region, offsets = self.ddr_offsets(root, hh, ww, cc)
        valid = region.written[offsets]
        if candidates[0] is state.output:  # a concatenation partly written, reloaded
            hh, ww, cc, offsets = hh[valid], ww[valid], cc[valid], offsets[valid]
        elif not valid.all():
            raise SimulationError(f"reads {self.names[self.root_id(root)]} from DDR, where it "
                                  "was never written")
        tiles, local = dist.locate(hh, ww, cc)
        self.write_memtile(tiles, address + local, region.data[offsets], self.root_id(root),
                           "LOAD")
        self.resident[self.root_id(root)] = (address, align(dist.tile_bytes))

    def load_band(self, state: LayerState, op: aie2.InstructionOp, current: Pass,
                  number: int) -> None:
        """Input ``number``'s rows (and channels) of one pass into a band buffer."""
        if number == len(state.inputs) and state.residual is not None:
            self.load_residual_band(state, op, current)
            return
        if number >= len(state.inputs):
            raise SimulationError("more LOADs than the layer has inputs")
        value = state.inputs[number]
        geometry = state.geometry
        r0, r1 = current.rows
        i0, i1, _ = geometry.input_span(0, r0, r1)
        if geometry.kind == "gap":
            i0, i1 = 0, geometry.in_hwc[0]
        k0, k1 = (0, hwc(value)[2]) if geometry.weighted else current.channels
        if geometry.source is not None:  # a gather: its whole input
            (i0, i1), (k0, k1) = (0, geometry.source[0]), (0, geometry.source[2])
        self.load_rows(state, op, value, (i0, i1), (k0, k1), number, "input")

    def load_residual_band(self, state: LayerState, op: aie2.InstructionOp,
                           current: Pass) -> None:
        """A fused addition's residual: the pass's output rows and channels."""
        assert state.residual is not None
        self.load_rows(state, op, state.residual, current.rows, current.channels,
                       len(state.inputs), "residual")

    def load_rows(self, state: LayerState, op: aie2.InstructionOp, value: SSAValue,
                  rows: tuple[int, int], channels: tuple[int, int], number: int,
                  what: str) -> None:
        """Rows and channels of ``value`` from its DDR home into a band buffer at the
        LOAD's address, as the pass's ``number``-th input."""
        (i0, i1), (k0, k1) = rows, channels
        w = hwc(value)[1]
        dist = Distribution(i1 - i0, w, k1 - k0, len(self.act_tiles))
        if dist.tile_bytes > op.nbytes:
            raise SimulationError(f"the {what} band needs {dist.tile_bytes} bytes per "
                                  f"memtile, the instruction moves {op.nbytes}")
        hh, ww, cc = np.meshgrid(np.arange(i0, i1), np.arange(w), np.arange(k0, k1),
                                 indexing="ij")
        region, offsets = self.ddr_offsets(value, hh, ww, cc)
        if not region.written[offsets].all():
            raise SimulationError(f"reads the {what} band from DDR, where it was never "
                                  "written")
        buffer = Buffer(value, op.field("memtile"), dist, i0, k0)
        tiles, address = buffer.locate(hh, ww, cc)
        self.write_memtile(tiles, address, region.data[offsets], self.root_id(value), "LOAD")
        state.in_buffers[number] = buffer

    def write_band(self, state: LayerState, op: aie2.InstructionOp, current: Pass) -> None:
        """The output rows and channels of one pass back to the output's DDR home."""
        value = state.output
        buffer = self.band_output(state, current, op.field("memtile"))
        r0, r1 = current.rows
        c0, c1 = current.channels
        if buffer.dist.tile_bytes > op.nbytes:
            raise SimulationError(f"the output band needs {buffer.dist.tile_bytes} bytes per "
                                  f"memtile, the instruction moves {op.nbytes}")
        hh, ww, cc = np.meshgrid(np.arange(r0, r1), np.arange(hwc(value)[1]),
                                 np.arange(c0, c1), indexing="ij")
        tiles, address = buffer.locate(hh, ww, cc)
        data = self.read_memtile(tiles, address, self.root_id(value), "WRITE")
        region, offsets = self.ddr_offsets(value, hh, ww, cc)
        region.data[offsets] = data
        region.written[offsets] = True

    def band_output(self, state: LayerState, current: Pass, base: int) -> Buffer:
        _, w, _ = hwc(state.output)
        r0, r1 = current.rows
        c0, c1 = current.channels
        return Buffer(state.output, base, Distribution(r1 - r0, w, c1 - c0,
                                                       len(self.act_tiles)), r0, c0)

    def write_resident(self, state: LayerState, op: aie2.InstructionOp, spill: bool) -> None:
        """A store of the layer's output, or a spill of a resident tensor."""
        address = op.field("memtile")
        if not spill:
            value = state.output
            owner = self.root_id(value)
        else:
            owner = int(self.owner[self.act_tiles[0], address])
            if owner == FREE:  # a buffer reserved but not written yet: nothing to save
                return  # (a tensor that needed saving is caught when it is read back)
            roots = [root for root, number in self.ids.items() if number == owner]
            if not roots or not isinstance(roots[0], SSAValue):
                raise SimulationError(f"memtile address {address} holds no tensor to spill")
            value = roots[0]
        buffer = self.resident_buffer(value, address)
        if buffer.dist.tile_bytes > op.nbytes and spill:
            raise SimulationError(f"the spill needs {buffer.dist.tile_bytes} bytes per "
                                  f"memtile, the instruction moves {op.nbytes}")
        hh, ww, cc = whole(value)
        tiles, local = buffer.locate(hh, ww, cc)
        if spill:  # a spill copies what the tensor holds so far (a concatenation
            memtiles = np.asarray(self.act_tiles)[tiles]  # may be partly written)
            held = self.owner[memtiles, local] == owner
            hh, ww, cc, tiles, local = hh[held], ww[held], cc[held], tiles[held], local[held]
        data = self.read_memtile(tiles, local, owner, "WRITE")
        region, offsets = self.ddr_offsets(value, hh, ww, cc)
        region.data[offsets] = data
        region.written[offsets] = True
        if spill:
            self.free(owner)  # evicted: the tensor now lives in DDR only

    # ------------------------------------------------------------------ the stream

    def run_pass(self, state: LayerState, current: Pass, program: list[aie2.InstructionOp],
                 number: int) -> None:
        groups = stream_groups(program)
        if not groups:
            if any(seg.steps for seg in current.segments):
                raise SimulationError("the layer has work but no LOADFM/COMP/WRITEFM")
            return
        loadwdm = [op for op in program if isinstance(op, aie2.LoadWDMOp)]
        if state.images and not any(isinstance(op, aie2.LoadWOp) for op in program):
            image = self.pass_image(state, current)
            if image.data.size == 0:  # every block pruned, no bias: nothing to move
                state.image, state.weight_piece = image, 1
        place = state.layer.placement.as_dict()
        base = groups[next(iter(groups))][0].field("memtile")
        for position, value in enumerate(state.inputs):
            if state.streamed:
                if position not in state.in_buffers:
                    raise SimulationError(f"input {position} of the pass was never loaded "
                                          "from DDR")
                buffer = state.in_buffers[position]
                if position == 0:
                    buffer = Buffer(value, base, buffer.dist, buffer.rows, buffer.channels)
            else:
                buffer = self.resident_buffer(value, placed_at(state, value, base, place))
            state.in_buffers[position] = buffer
        if state.residual is not None:
            state.residual_buffer = self.residual_buffer(state, base, place)
        # the output's buffer: where a group's WRITEFM writes results, not partial sums
        final = next(ops for phase, ops in groups.items()
                     if phase.partition(".")[2] in ("", "last"))
        out_base = final[2].field("memtile")
        if state.streamed:
            state.out_buffer = self.band_output(state, current, out_base)
        else:
            state.out_buffer = self.resident_buffer(state.output, out_base)
            self.resident[self.root_id(state.output)] = (
                out_base, align(state.out_buffer.dist.tile_bytes))
        state.current = current
        for segment in current.segments:
            if segment.weights is not None:
                if not loadwdm:
                    raise SimulationError("a weighted layer without LOADWDM")
                self.load_weights_to_cores(state, loadwdm[0], segment.weights)
            self.run_segment(state, groups, segment.steps)

    def residual_buffer(self, state: LayerState, base: int, place: dict) -> Buffer:
        """Where a fused addition's residual lies in the pass: its band (streamed, loaded
        after the inputs) or the resident tensor at its placement."""
        position = len(state.inputs)
        if state.streamed:
            if position not in state.in_buffers:
                raise SimulationError("the residual of the pass was never loaded from DDR")
            return state.in_buffers[position]
        return self.resident_buffer(state.residual,
                                    placed_at(state, state.residual, base, place))

    def load_weights_to_cores(self, state: LayerState, op: aie2.InstructionOp,
                              chunks: dict[tuple[int, int], Chunk]) -> None:
        what = describe(op)
        image = state.image
        if image is None:
            raise SimulationError(f"{what}: no weights were loaded into the memtiles",
                                  op_location(op))
        self.check_weight_lock(state, op)
        owner = self.weights_id(state)
        largest = 0
        for core, chunk in chunks.items():
            offsets = image.chunk_offsets(chunk.c0, chunk.c1, chunk.k0, chunk.k1)
            try:
                data = self.read_memtile(offsets // state.weight_piece,
                                         op.field("memtile") + offsets % state.weight_piece,
                                         owner, "LOADWDM", tile_ids=self.weight_tiles)
                self.write_core(core, op.field("core"), data, "LOADWDM", op.nbytes)
            except SimulationError as error:
                raise SimulationError(f"{what}: core {core[0]},{core[1]}: {error.message}",
                                      op_location(op)) from None
            largest = max(largest, data.size)
        state.weights_moved += largest

    def check_weight_lock(self, state: LayerState, op: aie2.InstructionOp) -> None:
        """LOADWDM after weights loaded ahead acquires the lock their load released:
        without the wait the cores could read them in flight, without the release they
        would wait forever."""
        ahead = any(isinstance(i, aie2.LoadWOp) and i.field("ahead")
                    for i in state.layer.instructions)
        if "wait" in op.properties:
            lock = op.field("wait")
            if self.signalled.get(lock) is not state.layer:
                raise SimulationError(f"{describe(op)}: deadlock: it waits on weight-memtile "
                                      f"lock {lock}, which no weight load of this layer "
                                      "released", op_location(op))
        elif ahead:
            raise SimulationError(f"{describe(op)}: race: the layer's weights load ahead "
                                  "but it does not wait on their lock", op_location(op))

    def run_segment(self, state: LayerState, groups, steps: list[Step]) -> None:
        """LOADFM, COMP and WRITEFM of the steps as three lock-chained processes."""
        if not steps:
            return
        layer = state.layer
        init = list(layer.locks.get("init")) if layer.locks is not None else []
        locks = list(init)
        ops_of = [[phase_ops(groups, step)[k] for step in steps] for k in range(3)]
        next_step = [0, 0, 0]
        inputs, outputs, done = state.in_held, state.out_held, state.steps_done
        actions = (self.loadfm, self.comp, self.writefm)
        total = len(steps)
        while min(next_step) < total:
            fired = False
            for kind in range(3):
                k = next_step[kind]
                if k >= total:
                    continue
                op = ops_of[kind][k]
                if op is None:  # a chunk that writes nothing: done once computed
                    if not state.scratch_tile:
                        raise SimulationError(
                            "a chunk's stream group has no WRITEFM, though the layer "
                            "sends its partial sums to the memtile", op_location(layer))
                    if next_step[1] <= k:
                        continue
                    next_step[kind] += 1
                    fired = True
                    break
                acquire = op.field("acquire", aie2.NO_LOCK)
                if acquire != aie2.NO_LOCK:
                    if acquire >= len(locks):
                        raise SimulationError(f"{describe(op)}: lock k{acquire} has no "
                                              "initial count", op_location(op))
                    if locks[acquire] == 0:
                        continue
                    locks[acquire] -= 1
                try:
                    actions[kind](state, op, steps[k], done + k, inputs, outputs)
                except SimulationError as error:
                    raise SimulationError(f"{describe(op)} (step {done + k}): {error.message}",
                                          op_location(op)) from None
                release = op.field("release", aie2.NO_LOCK)
                if release != aie2.NO_LOCK:
                    if release >= len(locks):
                        raise SimulationError(f"{describe(op)}: lock k{release} has no "
                                              "initial count", op_location(op))
                    locks[release] += 1
                next_step[kind] += 1
                fired = True
                break
            if not fired:
                waiting = [ops_of[k][next_step[k]] for k in range(3) if next_step[k] < total]
                op = waiting[0]
                raise SimulationError(
                    f"{describe(op)}: deadlock: waits on lock k{op.field('acquire')} that no "
                    "instruction will release", op_location(op))
        state.steps_done += total
        if locks != init:
            changed = next(i for i, (a, b) in enumerate(zip(locks, init, strict=True)) if a != b)
            raise SimulationError(f"lock k{changed} ends a stream at {locks[changed]}, it "
                                  f"began at {init[changed]}: acquires and releases do not "
                                  "match", op_location(layer))

    # ------------------------------------------------------------------ stream actions

    def loadfm(self, state: LayerState, op, step: Step, k: int, inputs, outputs) -> None:
        slot = k % 2
        if inputs[slot] is not None:
            raise SimulationError(f"overwrites input buffer {slot} before COMP consumed it")
        start = op.field("core") + slot * self.array.input_buffer
        for core, chunk in step.chunks.items():
            parts = []
            for position, value in enumerate(state.inputs):
                hh, ww, cc = self.window_indices(state.geometry, chunk, gate=position > 0)
                buffer = state.in_buffers[position]
                tiles, address = buffer.locate(hh, ww, cc)
                parts.append(self.read_memtile(tiles, address, self.root_id(value),
                                               f"core {core[0]},{core[1]}"))
            if "sums" in op.properties:  # the partial sums of the chunks before
                if state.sums is None:
                    raise SimulationError("reads partial sums, but the layer keeps none in "
                                          "the memtile")
                tiles, address = self.sums_address(state, core, chunk, op.field("sums"))
                parts.append(self.read_memtile(tiles, address, self.sums_id(state),
                                               f"core {core[0]},{core[1]}"))
            if state.residual is not None and op.phase.data.partition(".")[2] in ("", "last"):
                parts.append(self.read_residual(state, core, chunk))
            data = np.concatenate([p.ravel() for p in parts])
            self.core_range("", start, data.size, op.nbytes)
            self.write_core(core, start, data, f"core {core[0]},{core[1]}",
                            self.array.input_buffer)
        inputs[slot] = k

    def read_residual(self, state: LayerState, core: tuple[int, int], chunk: Chunk
                      ) -> np.ndarray:
        """The residual of a core's output chunk (a fused addition's other operand)."""
        buffer = state.residual_buffer
        assert buffer is not None and state.residual is not None
        tiles, address = buffer.locate(*output_indices(chunk))
        return self.read_memtile(tiles, address, self.root_id(state.residual),
                                 f"core {core[0]},{core[1]}")

    def window_indices(self, geometry: LayerShape, chunk: Chunk, gate: bool = False):
        """Input positions (rows, columns, channels) a chunk reads; of a multiplication's
        gate (``gate`` and a gated layer), its one position and the chunk's channels."""
        if gate and geometry.gate:
            return np.meshgrid([0], [0], np.arange(chunk.c0, chunk.c1), indexing="ij")
        if geometry.rhs_depth:  # a product: the head's rows, or its right operand's columns
            heads = np.arange(chunk.h0, chunk.h1)
            if gate:
                return np.meshgrid(heads, np.arange(geometry.rhs_depth),
                                   np.arange(chunk.c0, chunk.c1), indexing="ij")
            return np.meshgrid(heads, np.arange(chunk.w0, chunk.w1),
                               np.arange(geometry.cin), indexing="ij")
        i0, i1, _ = geometry.input_span(0, chunk.h0, chunk.h1)
        j0, j1, _ = geometry.input_span(1, chunk.w0, chunk.w1)
        if geometry.gather is not None:  # a transpose or slice: its positions, gathered
            return geometry.gathered_input(chunk.h0, chunk.h1, chunk.w0, chunk.w1,
                                           chunk.c0, chunk.c1)
        if geometry.channel_map is not None:  # the channels it copies, gathered
            return np.meshgrid(np.arange(i0, i1), np.arange(j0, j1),
                               np.asarray(geometry.channel_map)[chunk.c0:chunk.c1],
                               indexing="ij")
        if geometry.kind == "gap":
            i0, i1, j0, j1 = 0, geometry.in_hwc[0], 0, geometry.in_hwc[1]
        c0, c1 = geometry.input_channels(chunk.c0, chunk.c1, chunk.k0, chunk.k1)
        rows = geometry.gathered_positions(0, chunk.h0, chunk.h1) if geometry.gathers(0) \
            else np.arange(i0, i1)
        cols = geometry.gathered_positions(1, chunk.w0, chunk.w1) if geometry.gathers(1) \
            else np.arange(j0, j1)
        return np.meshgrid(rows, cols, np.arange(c0, c1), indexing="ij")

    def comp(self, state: LayerState, op, step: Step, k: int, inputs, outputs) -> None:
        slot, out_slot = k % 2, step.subvolume % 2
        if inputs[slot] != k:
            raise SimulationError(f"reads input buffer {slot}, which LOADFM has not filled "
                                  "for it")
        held = outputs[out_slot]
        in_scratch = bool(state.scratch_tile)  # partial sums in slots: no output buffer
        # the output buffer starts empty, unless it holds the partial sums so far
        fresh = step.first_k or state.sums is not None or in_scratch
        if in_scratch and not step.last_k:
            pass  # nothing reaches an output buffer before the last chunk
        elif fresh and held is not None:
            raise SimulationError(f"overwrites output buffer {out_slot} before WRITEFM "
                                  "moved it")
        elif not fresh and held != ("partial", step.subvolume):
            raise SimulationError(f"accumulates into output buffer {out_slot}, which holds "
                                  "no partial sums of its subvolume")
        if in_scratch and "sums" not in op.properties:
            raise SimulationError("keeps partial sums in the core, but names no slot for "
                                  "them")
        geometry = state.geometry
        in_start = self.layout.input + slot * self.array.input_buffer
        out_start = self.layout.output + out_slot * self.array.output_buffer
        for core, chunk in step.chunks.items():
            shapes = [self.window_indices(geometry, chunk, gate=i > 0)[0].shape
                      for i in range(len(state.inputs))]
            sizes = [int(np.prod(shape)) for shape in shapes]
            raw = self.read_core(core, in_start, sum(sizes), f"core {core[0]},{core[1]}")
            offsets = np.cumsum([0, *sizes])
            valid = [raw[offsets[i]:offsets[i + 1]].view(np.int8).reshape(shape)
                     for i, shape in enumerate(shapes)]
            # partial sums so far: after the input (from the memtile), in the tile's
            # slot in the core or in the output; a fused addition's residual after the
            # input (and the sums), with the tile's last chunk
            sums_at = in_start + sum(sizes) if state.sums is not None else \
                self.sum_slot(state, step, op.field("sums")) if in_scratch else out_start
            residual = None
            stationary = state.sums is not None or in_scratch
            if state.residual is not None and (not stationary or step.last_k):
                tile = (chunk.h1 - chunk.h0, chunk.w1 - chunk.w0, chunk.c1 - chunk.c0)
                at = in_start + sum(sizes)
                if state.sums is not None and not step.first_k:
                    at += int(np.prod(tile)) * PARTIAL_SUM_BYTES
                residual = self.read_core(core, at, int(np.prod(tile)),
                                          f"core {core[0]},{core[1]}"
                                          ).view(np.int8).reshape(tile)
            result = self.compute(state, core, chunk, step, valid, sums_at, residual)
            if in_scratch:  # the partial sums, or the int8 result over their start
                self.write_core(core, sums_at, result.ravel().view(np.uint8),
                                f"core {core[0]},{core[1]}: partial sums")
                continue
            self.write_core(core, out_start, result.ravel().view(np.uint8),
                            f"core {core[0]},{core[1]}", self.array.output_buffer)
        inputs[slot] = None
        if in_scratch and not step.last_k:
            return
        outputs[out_slot] = ("final" if step.last_k else "partial", step.subvolume)

    def sum_slot(self, state: LayerState, step: Step, first: int) -> int:
        """The core address of a step's tile's partial-sum slot (``CoreLayout``), the
        first slot at ``first``, checked to lie in the output buffers or the scratch."""
        offset = self.layout.sum_slot(step.tile, state.scratch_tile)
        if offset is None:
            raise SimulationError(f"keeps partial sums in the core, but has no slot for tile "
                                  f"{step.tile} of its chunk")
        start = first + offset
        if not any(begin <= start and start + state.scratch_tile <= begin + size
                   for begin, size in self.layout.sum_regions):
            raise SimulationError(f"puts partial sums at core [{start}, "
                                  f"{start + state.scratch_tile}), outside the output "
                                  "buffers and the scratch")
        return start

    def compute(self, state: LayerState, core, chunk: Chunk, step: Step,
                valid: list[np.ndarray], sums_at: int,
                residual: np.ndarray | None = None) -> np.ndarray:
        """A core's chunk: int32 partial sums (before the last input-channel chunk) or
        its int8 output; earlier chunks' partial sums are read at ``sums_at``."""
        geometry, inner = state.geometry, state.layer.inner
        if geometry.weighted:
            image = state.image
            assert image is not None
            count = len(image.chunk_offsets(chunk.c0, chunk.c1, chunk.k0, chunk.k1))
            raw = self.read_core(core, self.layout.weights, count, f"core {core[0]},{core[1]}")
            k0, k1 = chunk.k0, chunk.k1
            if geometry.groups > 1:
                k0, k1 = 0, geometry.cin_per_group
            weights, bias = image.decode(raw, chunk.c0, chunk.c1, k0, k1, geometry.kernel)
            if not isinstance(inner, tg.WEIGHTED_OPS):  # a layer norm, a per-channel
                # constant: the op itself, on the chunk's values of its parameters
                weight_value, _ = parameters(inner)
                shape = (*tg.tensor_shape(weight_value)[:-1], -1)
                args = [valid[0][None], weights.reshape(shape)]
                y = self.executor.evaluate(inner, args if bias is None else [*args, bias])
                return self.epilogue(state, y[0], residual)
            acc = core_kernels.accumulate(geometry.tile_geometry(), chunk, valid[0], weights)
            if not step.first_k:
                n = acc.size * 4
                previous = self.read_core(core, sums_at, n, f"core {core[0]},{core[1]}")
                acc = core_kernels.check_int32(
                    acc + previous.view("<i4").reshape(acc.shape).astype(np.int64))
            if not step.last_k:
                return acc.astype("<i4")
            y = core_kernels.finish_weighted(acc, bias, inner)
        elif geometry.kind in ("maxpool", "avgpool", "gap"):
            y = core_kernels.pool(geometry, chunk, valid[0], inner)
        elif geometry.channel_map is not None or geometry.gather is not None:  # a copy
            y = self.executor.requantize_same(inner, valid[0])
        else:
            y = self.executor.evaluate(inner, [v[None] for v in valid])[0]
        return self.epilogue(state, y, residual)

    def epilogue(self, state: LayerState, y: np.ndarray,
                 residual: np.ndarray | None = None) -> np.ndarray:
        """A fused addition (of the tile's ``residual``) and fused activations, then the
        move into a concatenation's fix position."""
        body = state.layer.body.block
        for op in body.ops:
            if op is state.layer.inner or not isinstance(op, tg.LAYER_OPS):
                continue
            if isinstance(op, tg.AddOp):
                if residual is None:
                    raise SimulationError("adds a residual the core was not sent")
                pair = [y, residual] if op.lhs is state.layer.inner.results[0] \
                    else [residual, y]
                y = self.executor.evaluate(op, [v[None] for v in pair])[0]
                continue
            y = self.executor.evaluate(op, [y[None]])[0]
        y = self.views[state.output].requantize(y)
        return np.ascontiguousarray(y.astype(np.int8))

    def writefm(self, state: LayerState, op, step: Step, k: int, inputs, outputs) -> None:
        out_slot = step.subvolume % 2
        held = outputs[out_slot]
        if not step.last_k:
            if held != ("partial", step.subvolume):
                raise SimulationError("the partial sums it passes on were not computed")
            if state.sums is not None:  # to the memtile, for the next chunk
                self.write_sums(state, op, step, out_slot)
                outputs[out_slot] = None
            return
        if held != ("final", step.subvolume):
            raise SimulationError(f"reads output buffer {out_slot}, which COMP has not "
                                  "filled for it")
        start = op.field("core") + out_slot * self.array.output_buffer
        if state.scratch_tile:  # the result lies at the start of the tile's slot
            start = self.sum_slot(state, step, op.field("core"))
        buffer = state.out_buffer
        assert buffer is not None
        owner = self.root_id(state.output)
        for core, chunk in step.chunks.items():
            shape = (chunk.h1 - chunk.h0, chunk.w1 - chunk.w0, chunk.c1 - chunk.c0)
            size = int(np.prod(shape))
            self.core_range("", start, size, op.nbytes)
            data = self.read_core(core, start, size, f"core {core[0]},{core[1]}")
            tiles, address = buffer.locate(*output_indices(chunk))
            self.write_memtile(tiles, address, data, owner, f"core {core[0]},{core[1]}",
                               state.in_place)
        outputs[out_slot] = None

    def write_sums(self, state: LayerState, op, step: Step, out_slot: int) -> None:
        """WRITEFM of partial sums: each core's int32 tile into its scratch region."""
        start = op.field("core") + out_slot * self.array.output_buffer
        for core, chunk in step.chunks.items():
            size = (chunk.h1 - chunk.h0) * (chunk.w1 - chunk.w0) * (chunk.c1 - chunk.c0) \
                * PARTIAL_SUM_BYTES
            self.core_range("", start, size, op.nbytes)
            data = self.read_core(core, start, size, f"core {core[0]},{core[1]}")
            tiles, address = self.sums_address(state, core, chunk, op.field("memtile"))
            self.write_memtile(tiles, address, data, self.sums_id(state),
                               f"core {core[0]},{core[1]}")


def prefetches_by_layer(layers: list[aie2.LayerOp]
                        ) -> dict[int, list[tuple[aie2.LayerOp, aie2.InstructionOp]]]:
    """The weight loads issued ahead, by the position of the layer they are issued
    under."""
    issued: dict[int, list[tuple[aie2.LayerOp, aie2.InstructionOp]]] = {}
    for position, op in aie2.prefetched_loads(layers):
        issued.setdefault(position - op.field("ahead"), []).append((layers[position], op))
    return issued


def whole(value: SSAValue) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, w, c) index grids of every element of a value."""
    h, w, c = hwc(value)
    return np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")


def tensor_name(root: SSAValue) -> str:
    """How messages name an activation."""
    owner = root.owner
    if isinstance(owner, aie2.LayerOp):
        return f"the output of '{owner.layer_name.data}'"
    if isinstance(owner, tg.ConcatOp):
        return f"the concatenation %{root.name_hint}" if root.name_hint else "a concatenation"
    if root.name_hint:
        return f"%{root.name_hint}"
    return "the network input" if not isinstance(owner, Operation) else "a tensor"


def placed_at(state: LayerState, value: SSAValue, base: int, place: dict) -> int:
    """The memtile address of a resident tensor the layer reads: the stream's ``base``
    for the first, else its placement (which lists each distinct tensor once: x * x
    reads one)."""
    slot = state.reads.index(value)
    return base if slot == 0 else pairs(place["inputs"])[slot][0]


def output_indices(chunk: Chunk) -> list[np.ndarray]:
    """(h, w, c) index grids of a chunk's outputs."""
    return np.meshgrid(np.arange(chunk.h0, chunk.h1), np.arange(chunk.w0, chunk.w1),
                       np.arange(chunk.c0, chunk.c1), indexing="ij")


def pairs(values) -> list[tuple[int, int]]:
    values = list(values)
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def stream_groups(program: list[aie2.InstructionOp]) -> dict[str, list[aie2.InstructionOp]]:
    """phase -> [LOADFM, COMP, WRITEFM]; WRITEFM None in a phase that writes nothing
    (an input-channel chunk before the last whose partial sums stay in the core)."""
    groups: dict[str, list] = {}
    index = {aie2.LoadFMOp: 0, aie2.CompOp: 1, aie2.WriteFMOp: 2}
    for op in program:
        kind = index.get(type(op))
        if kind is None:
            continue
        groups.setdefault(op.phase.data, [None, None, None])[kind] = op
    for phase, ops in groups.items():
        writes = phase.partition(".")[2] not in ("first", "middle")  # results leave
        if None in ops[:2] or (writes and ops[2] is None):
            missing = ("LOADFM", "COMP", "WRITEFM")[ops.index(None)]
            raise SimulationError(f"the {phase} group has no {missing}")
    return groups


def phase_ops(groups: dict[str, list[aie2.InstructionOp]], step: Step
              ) -> list[aie2.InstructionOp]:
    """The group a step belongs to: head for the first row block of a sequence, tail for
    the last, body otherwise (when the program has them); with partial sums in the
    memtile, the group of the step's input-channel chunk position among those."""
    wanted = {"first": "head", "last": "tail"}.get(step.row_position, "body")
    chunk = ""
    if any("." in phase for phase in groups):
        chunk = "." + ("first" if step.first_k else "last" if step.last_k else "middle")
    for phase in (wanted, "body", "head", "tail"):
        if phase + chunk in groups:
            return groups[phase + chunk]
    raise SimulationError("the program has no stream group" + (f" for chunk {chunk[1:]}"
                                                               if chunk else ""))


def simulate(module: ModuleOp, weights: dict[str, np.ndarray], inputs: Sequence[np.ndarray],
             observe: LayerObserver | None = None) -> list[np.ndarray]:
    """Run a lowered module; see :class:`Simulator`."""
    return Simulator(module, weights).run(inputs, observe)

