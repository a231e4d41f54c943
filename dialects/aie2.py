"""The aie2 dialect: the instruction stream of paper section 4.4.

An ``aie2.layer`` (a ``tiling.layer`` whose body now holds instructions) keeps the tg op
it implements, then the layer's program, read like the paper's ASM::

    aie2.loadw   ddr    memtile 4096 bytes 1024 iter 1
    aie2.loadwdm once   memtile 4096 core 32768 bytes 1040 iter 1 repeat 4
    aie2.loadfm  head   acquire 0 release 1 memtile 0 core 0 bytes 7168
                        extent 50176 stride 896 iter 1 repeat 4
    aie2.comp    head   acquire 1 release 2 macs 100352 iter 1 repeat 4
    aie2.writefm head   acquire 2 release 0 memtile 8192 core 16384 bytes 1792
                        extent 50176 stride 896 iter 1 repeat 4

(each instruction on one line in the IR).

``iter`` iterations of a group overlap (load, compute and store in a ping/pong
pipeline); a group is run ``repeat`` times (once per width, channel and band chunk).
``phase`` is ``head``/``body``/``tail`` for the streamed rows (padding makes the first
and last row blocks differ, paper Eq. 8), ``ddr`` for DDR transfers, ``once`` for the
weights. When partial sums go through the memtile between input-channel chunks, a
streamed phase also names the chunk (``body.first``, ``body.middle``, ``body.last``):
the LOADFM of a later chunk reads the partial sums at memtile address ``sums`` besides
its input, the WRITEFM of an earlier one writes them there (``memtile``). When they stay
in the core instead, COMP names ``sums``, the core address of the first tile's slot of
int32 partial sums (the next tiles' follow over the output buffers, then the scratch),
the chunks before the last have no WRITEFM, and the last leaves each tile's int8 result
at the start of its slot, from where its WRITEFM (``core``: the first slot) moves it.
``acquire``/``release`` are the core locks of the chain (-1: none).

A weight load issued early (``bsir compile --overlap weights``) names how many layers
before its own it runs under (``ahead``) and the weight memtiles' lock it releases when
its bytes have landed (``signal``); every LOADWDM of its layer acquires that lock before
it reads them (``wait``). ``early``, when present, is how many of each memtile's bytes
load then (from offset ``early_at``); the rest load when the layer starts::

    aie2.loadw   ddr    memtile 65536 bytes 9216 iter 1 ahead 1 signal 63
    aie2.loadwdm once   memtile 65536 core 32768 bytes 9216 iter 1 wait 63

Addresses: ``memtile`` is where the transfer's buffer starts on each memtile it spans
(for LOADFM/WRITEFM the tensor or band buffer; ``stride`` is its row pitch and
``extent`` its bytes per memtile); ``core`` is the ping buffer in core memory, the pong
buffer follows it at one buffer size. ``bytes`` are per memtile for DDR instructions and
per core (the most any core moves) otherwise; ``macs`` per core per iteration;
``share`` (when more than 1) how many cores take turns on the transfer's DMA channel
(targets/aie2/channels.py), which makes it that many times longer. The
rows, columns and channels each core moves at each iteration follow from the layer's
split and subvolume (targets/aie2/schedule.py); the functional simulator
(targets/aie2/simulator.py) runs the program on real bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType

from xdsl.dialects.builtin import ArrayAttr, IntAttr, IntegerAttr, ModuleOp, StringAttr
from xdsl.ir import Attribute, Dialect, Operation
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent
from xdsl.utils.exceptions import VerifyException

from bsir.dialects import tiling
from bsir.dialects.record_attr import RecordAttr, i64_attr

PHASES = ("ddr", "once", "head", "body", "tail")
CHUNK_PHASES = ("first", "middle", "last")
FIELDS = ("acquire", "release", "memtile", "core", "bytes", "extent", "stride", "macs", "iter",
          "repeat", "share", "sums", "moved", "ahead", "early", "early_at", "signal", "wait")
NO_LOCK = -1


@irdl_attr_definition
class LocksAttr(RecordAttr):
    """The initial count of each core lock of a layer's chain (index = lock id)."""

    name = "aie2.locks"

    init: ArrayAttr[IntAttr]


@irdl_op_definition
class LayerOp(tiling.MappedLayer):
    """A layer lowered to instructions; the properties of ``tiling.layer`` plus the
    lock initialisation ``aie2-form-lock-chains`` chose."""

    name = "aie2.layer"

    locks = opt_prop_def(LocksAttr)

    @property
    def instructions(self) -> list[InstructionOp]:
        return [op for op in self.body.block.ops if isinstance(op, InstructionOp)]


class InstructionOp(IRDLOperation):
    """Common form: ``aie2.<kind> <phase> (<field> <int>)*``."""

    phase = prop_def(StringAttr)
    acquire = opt_prop_def(IntegerAttr)
    release = opt_prop_def(IntegerAttr)
    memtile = opt_prop_def(IntegerAttr)
    core = opt_prop_def(IntegerAttr)
    bytes = opt_prop_def(IntegerAttr)
    extent = opt_prop_def(IntegerAttr)
    stride = opt_prop_def(IntegerAttr)
    macs = opt_prop_def(IntegerAttr)
    iter = prop_def(IntegerAttr)
    repeat = opt_prop_def(IntegerAttr)
    share = opt_prop_def(IntegerAttr)
    sums = opt_prop_def(IntegerAttr)
    moved = opt_prop_def(IntegerAttr)
    ahead = opt_prop_def(IntegerAttr)
    early = opt_prop_def(IntegerAttr)
    early_at = opt_prop_def(IntegerAttr)
    signal = opt_prop_def(IntegerAttr)
    wait = opt_prop_def(IntegerAttr)

    traits = traits_def(HasParent(LayerOp))


    def __init__(self, phase: str, **fields: int):
        properties: dict[str, Attribute] = {"phase": StringAttr(phase)}
        for key, value in fields.items():
            properties[key] = i64_attr(int(value))
        super().__init__(properties=properties)

    def field(self, key: str, default: int = 0) -> int:
        attr = self.properties.get(key)
        return attr.value.data if isinstance(attr, IntegerAttr) else default

    @property
    def iterations(self) -> int:
        return self.field("iter")

    @property
    def repeats(self) -> int:
        return self.field("repeat", 1)

    @property
    def nbytes(self) -> int:
        return self.field("bytes")

    @property
    def moved_bytes(self) -> int:
        """Bytes moved over every iteration and repeat: ``moved`` where the transfers
        differ in size (``bytes`` is then the largest), else bytes x iter x repeat."""
        return self.field("moved", self.nbytes * self.iterations * self.repeats)

    @property
    def shares(self) -> int:
        """How many cores share the DMA channel of this transfer (1: none)."""
        return self.field("share", 1)

    @classmethod
    def parse(cls, parser: Parser) -> InstructionOp:
        start = parser.pos
        phase = parser.parse_identifier()
        fields: dict[str, int] = {}
        while (key := parser.parse_optional_keyword_in(FIELDS)) is not None:
            if key in fields:
                parser.raise_error(f"'{key}' is given twice")
            fields[key] = parser.parse_integer()
        if "iter" not in fields:
            parser.raise_error(f"'{cls.name}' needs an 'iter' count", at_position=start)
        return cls(phase, **fields)

    def print(self, printer: Printer) -> None:
        text = f" {self.phase.data}"
        for key in FIELDS:
            if key in self.properties:
                text += f" {key} {self.field(key)}"
        printer.print_string(text)

    def verify_(self) -> None:
        rows, _, chunk = self.phase.data.partition(".")
        if rows not in PHASES or (chunk and (chunk not in CHUNK_PHASES
                                              or rows not in ("head", "body", "tail"))):
            raise VerifyException(
                f"unknown phase '{self.phase.data}' ({', '.join(PHASES)}; a streamed phase "
                f"may name its input-channel chunk: {', '.join(CHUNK_PHASES)})")
        # every integer field read once (a network has thousands of instructions)
        given = {key: attr.value.data for key, attr in self.properties.items()
                 if isinstance(attr, IntegerAttr)}
        iterations, repeats = given.get("iter", 0), given.get("repeat", 1)
        nbytes = given.get("bytes", 0)
        if iterations < 1 or repeats < 1 or given.get("share", 1) < 1:
            raise VerifyException("iter, repeat and share must be at least 1")
        if nbytes < 0 or given.get("macs", 0) < 0:
            raise VerifyException("bytes and macs must be non-negative")
        moved = given.get("moved", nbytes * iterations * repeats)
        if not 0 <= moved <= nbytes * iterations * repeats:
            raise VerifyException(
                f"moved {moved} must be in 0..bytes x iter x repeat "
                f"({nbytes * iterations * repeats})")
        if given.get("ahead", 0) and not isinstance(self, LoadWOp):
            raise VerifyException("only a weight load (aie2.loadw) is issued 'ahead'")
        if given.get("ahead", 0) < 0:
            raise VerifyException("'ahead' counts layers: it is at least 0")
        tiling.check_early_part({key: given[key] for key in tiling.PREFETCH_FIELDS
                                 if key in given}, nbytes)
        if "signal" in given and not isinstance(self, LoadWOp):
            raise VerifyException("only a weight load (aie2.loadw) signals a memtile lock")
        if "wait" in given and not isinstance(self, LoadWDMOp):
            raise VerifyException("only aie2.loadwdm waits on a memtile lock")
        array = _array_of(self)
        if array is None:
            return
        values = _array_values(array)
        for key in ("signal", "wait"):
            if key in given and not 0 <= given[key] < values["locks_per_memtile"]:
                raise VerifyException(
                    f"{key} lock {given[key]} is outside the memtile's "
                    f"0..{values['locks_per_memtile'] - 1}")
        locks = values["locks_per_core"]
        for key in ("acquire", "release"):
            lock = given.get(key, NO_LOCK)
            if not NO_LOCK <= lock < locks:
                raise VerifyException(f"{key} lock {lock} is outside the core's 0..{locks - 1}")
        if "memtile" in given:
            start = given["memtile"]
            end = start + given.get("extent", nbytes)
            if start < 0 or end > values["memtile_bytes"]:
                raise VerifyException(
                    f"memtile range [{start}, {end}) is outside the "
                    f"{values['memtile_bytes']}-byte memtile")
        if "core" in given:
            end = given["core"] + nbytes
            if given["core"] < 0 or end > values["core_memory"]:
                raise VerifyException(
                    f"core range [{given['core']}, {end}) is outside the "
                    f"{values['core_memory']}-byte core memory")


@lru_cache(maxsize=64)
def _array_values(array: tiling.HardwareAttr) -> Mapping[str, int | str | tuple[int, ...]]:
    """The fields of a module's array, read once (every instruction checks its locks
    and ranges against them)."""
    return MappingProxyType(array.as_dict())


def prefetched_loads(layers: Sequence[LayerOp]) -> list[tuple[int, LoadWOp]]:
    """Every weight load issued ahead, with the position of its layer among ``layers``
    (it runs under the layer ``ahead`` positions before), in layer order."""
    return [(position, op) for position, layer in enumerate(layers)
            for op in layer.instructions if isinstance(op, LoadWOp) and op.field("ahead")]


def _array_of(op: Operation) -> tiling.HardwareAttr | None:
    current: Operation | None = op
    while current is not None and not isinstance(current, ModuleOp):
        current = current.parent_op()
    if current is None:
        return None
    attr = current.attributes.get(tiling.ARRAY_ATTR)
    return attr if isinstance(attr, tiling.HardwareAttr) else None


@irdl_op_definition
class LoadOp(InstructionOp):
    """LOAD: activations DDR -> memtile."""

    name = "aie2.load"


@irdl_op_definition
class LoadWOp(InstructionOp):
    """LOADW: weights DDR -> memtile."""

    name = "aie2.loadw"


@irdl_op_definition
class WriteOp(InstructionOp):
    """WRITE: memtile -> DDR (results, spills)."""

    name = "aie2.write"


@irdl_op_definition
class LoadFMOp(InstructionOp):
    """LOADFM: activations memtile -> core column (broadcast)."""

    name = "aie2.loadfm"


@irdl_op_definition
class LoadWDMOp(InstructionOp):
    """LOADWDM: weights memtile -> core row (broadcast); synchronous and halting."""

    name = "aie2.loadwdm"


@irdl_op_definition
class CompOp(InstructionOp):
    """COMP: the cores compute one subvolume per iteration."""

    name = "aie2.comp"


@irdl_op_definition
class WriteFMOp(InstructionOp):
    """WRITEFM: results core -> memtile."""

    name = "aie2.writefm"


INSTRUCTIONS = (LoadOp, LoadWOp, WriteOp, LoadFMOp, LoadWDMOp, CompOp, WriteFMOp)

AIE2 = Dialect("aie2", [LayerOp, *INSTRUCTIONS], [LocksAttr])
