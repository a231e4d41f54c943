"""The tiling dialect: each layer with its mapping onto the AIE2 array.

A ``tiling.layer`` wraps the tg op it maps (plus a fused ReLU/clip), so its meaning
stays exact, and carries the decisions of the tiling passes::

    %y = tiling.layer "layer1.0.conv1" {
           split = #tiling.split<mode = "w", cols = [0, 14, 28, 42, 56],
                                 rows = [0, 16, 32, 48, 64]>,
           subvolume = #tiling.subvolume<h = 9, w = 14, cout = 16, cin = 64, ...>,
           ddr = #tiling.ddr<h_passes = 1, cout_passes = 1>} : tensor<1x56x56x64xf32> {
      %c = tg.conv2d %x, %w {...} : (...) -> tensor<1x56x56x64xf32>
      %r = tg.relu %c : ...
      tiling.transfer {kind = "loadw", tensor = "weights", bytes = 1024 : i64, count = 1 : i64}
      tiling.transfer {kind = "to_cores", tensor = "input0", bytes = 8064 : i64, count = 7 : i64}
      tiling.compute {macs = 129024 : i64, count = 7 : i64, macs_total = 12845056 : i64}
      tiling.transfer {kind = "from_cores", tensor = "output", bytes = 2016 : i64, count = 7 : i64}
      tiling.yield %r : tensor<1x56x56x64xf32>
    }

Transfers name their memory levels by kind: ``load``/``loadw`` (DDR to memtile),
``to_cores``/``weights_to_cores`` (memtile to cores), ``from_cores`` (cores to
memtile), ``store``/``spill`` (memtile to DDR). ``bytes`` is per memtile (DDR kinds) or
per core (core kinds) for one transfer; ``count`` is how many times it happens.
The module's ``tiling.array`` attribute records the hardware the mapping is for.
"""

from __future__ import annotations

from itertools import pairwise

from xdsl.dialects.builtin import (
    ArrayAttr,
    FloatData,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    lazy_traits_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import HasParent, IsTerminator
from xdsl.utils.exceptions import VerifyException

from bsir.dialects import tg
from bsir.dialects.record_attr import RecordAttr, i64_attr

ARRAY_ATTR = "tiling.array"
"""Module attribute: the #tiling.array the module is mapped onto."""

PACKED_WEIGHTS_ATTR = "tiling.packed_weights"
"""Module attribute: the ``.npz`` of the compacted (packed) block-sparse weights."""

PREFETCH_FIELDS = ("ahead", "early", "early_at")
"""A weight prefetch's fields: the layers it runs ahead, and the part that does (bytes a
memtile, from an offset in its share) where not all of it does."""


def check_early_part(fields: dict[str, int], nbytes: int) -> None:
    """Raise unless a weight load's ``early`` part (of ``nbytes`` a memtile, at
    ``early_at``) belongs to a load issued ``ahead`` and lies inside its bytes; a
    transfer and the instruction that implements it check the same."""
    early = fields.get("early")
    if early is not None and not (fields.get("ahead") and 0 < early < nbytes):
        raise VerifyException("'early' is the part of a weight load issued ahead that loads "
                              "then: more than 0 bytes, fewer than all")
    if "early_at" in fields and (early is None
                                 or not 0 <= fields["early_at"] <= nbytes - early):
        raise VerifyException("'early_at' places the part loaded ahead ('early') inside the "
                              "weight load's bytes")


TRANSFER_KINDS = ("load", "loadw", "to_cores", "weights_to_cores", "from_cores", "store",
                  "spill")


@irdl_attr_definition
class HardwareAttr(RecordAttr):
    """The hardware: ``#tiling.array<array_name = "aie2-4x4", rows = 4, cols = 4, ...>``.

    One parameter per field of ``bsir.targets.aie2.hardware.AIE2Array``, under the same
    name (``array_name`` for ``name``), so the array converts to and from it exactly.
    """

    name = "tiling.array"

    array_name: StringAttr
    rows: IntAttr
    cols: IntAttr
    memtile_bytes: IntAttr
    memtile_mode: StringAttr
    core_memory: IntAttr
    input_buffer: IntAttr
    output_buffer: IntAttr
    weight_buffer: IntAttr
    ddr_channel_gbps: FloatData
    ddr_channels_per_memtile: IntAttr
    link_gbps: FloatData
    macs_per_cycle: IntAttr
    clock_ghz: FloatData
    locks_per_core: IntAttr
    locks_per_memtile: IntAttr
    memtile_mm2s: IntAttr
    memtile_s2mm: IntAttr
    core_mm2s: IntAttr
    core_s2mm: IntAttr
    shim_mm2s: IntAttr
    shim_s2mm: IntAttr
    memtile_bds: IntAttr
    core_bds: IntAttr


@irdl_attr_definition
class SplitAttr(RecordAttr):
    """How output width (``mode = "w"`` and ``"h"``) or channels (``"cout"``) spread
    over columns, and output channels (``"w"``, ``"cout"``) or the output rows of a DDR
    pass (``"h"``) over rows: range bounds per column and per row."""

    name = "tiling.split"

    mode: StringAttr
    cols: ArrayAttr[IntAttr]
    rows: ArrayAttr[IntAttr]
    parts: IntAttr

    def verify(self) -> None:
        if self.get("mode") not in ("w", "cout", "h"):
            raise VerifyException(
                f"split mode must be \"w\", \"cout\" or \"h\", got {self.get('mode')}")
        for what in ("cols", "rows"):
            bounds = self.get(what)
            if len(bounds) < 2 or bounds[0] != 0 or any(b < a for a, b in pairwise(bounds)):
                raise VerifyException(f"split {what} must be increasing bounds from 0")
        parts, rows = self.get("parts"), len(self.get("rows")) - 1
        if parts < 1 or (parts > 1 and (self.get("mode") == "h" or parts > rows)):
            raise VerifyException(
                f"split parts must be 1, or with mode \"w\" or \"cout\" at most the "
                f"{rows} rows, got {parts}")


@irdl_attr_definition
class SubvolumeAttr(RecordAttr):
    """What one core computes per iteration and how often (the busiest core).
    ``weights_moved``: the bytes its weight loads move in one DDR pass, each load the
    largest chunk any core loads with it (``weight_bytes`` is the largest of all: the
    core's weight buffer).
    ``cin_split``: 0 every input channel at once, 1 input-channel chunks whose int32
    partial sums stay in the core's output buffer, 2 weight-stationary over the chunks
    with the partial sums kept in the memtile between them, 3 the same with every
    tile's partial sums in the core (slots over its output buffers and scratch), 4 as 3
    with every column chunk of the core (a row block each) streamed through each
    chunk's weights, loaded once."""

    name = "tiling.subvolume"

    h: IntAttr
    w: IntAttr
    cout: IntAttr
    cin: IntAttr
    in_h: IntAttr
    in_w: IntAttr
    input_bytes: IntAttr
    output_bytes: IntAttr
    weight_bytes: IntAttr
    iterations: IntAttr
    weight_loads: IntAttr
    weights_moved: IntAttr
    macs: IntAttr
    cin_split: IntAttr

    def verify(self) -> None:
        if self.get("cin_split") not in range(5):
            raise VerifyException(
                "subvolume cin_split must be 0 (none), 1 (sums in the output buffer), 2 "
                "(in the memtile), 3 (in the core's scratch) or 4 (there, column chunks "
                f"inside), got {self.get('cin_split')}")
        if not 0 <= self.get("weights_moved") <= self.get("weight_bytes") \
                * self.get("weight_loads"):
            raise VerifyException(
                f"subvolume weights_moved must be in 0..weight_bytes x weight_loads "
                f"({self.get('weight_bytes') * self.get('weight_loads')}), got "
                f"{self.get('weights_moved')}")


@irdl_attr_definition
class DDRAttr(RecordAttr):
    """Outer tiling through DDR: H bands x COUT bands (1 x 1 when the layer fits)."""

    name = "tiling.ddr"

    h_passes: IntAttr
    cout_passes: IntAttr


@irdl_attr_definition
class PlacementAttr(RecordAttr):
    """Where the layer's tensors live during it: memtile [address, bytes] pairs, one per
    activation input, or -1 for DDR; the same for weights and output. Addresses are
    the same on every memtile the tensor spreads over. ``live`` lists every range in
    use on the (activation) memtiles during the layer, ``weight_live`` on the weight
    memtiles when they are separate. ``scratch`` is the [address, bytes] of the partial
    sums a layer keeps in the activation memtiles between input-channel chunks
    (``cin_split = 2``), [-1, 0] when it keeps none or streams through DDR (its band
    buffers then place them)."""

    name = "tiling.placement"

    inputs: ArrayAttr[IntAttr]
    weights: ArrayAttr[IntAttr]
    output: ArrayAttr[IntAttr]
    live: ArrayAttr[IntAttr]
    weight_live: ArrayAttr[IntAttr]
    scratch: ArrayAttr[IntAttr]

    @staticmethod
    def pairs(values: tuple[int, ...]) -> list[tuple[int, int]]:
        return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


@irdl_attr_definition
class CompactionAttr(RecordAttr):
    """Packed weights of a layer: block shape, kept blocks, and the bytes of the largest
    per-core chunk (what one LOADWDM moves)."""

    name = "tiling.compaction"

    block: ArrayAttr[IntAttr]
    kept_blocks: IntAttr
    total_blocks: IntAttr
    packed_bytes: IntAttr
    chunk_bytes: IntAttr


class MappedLayer(IRDLOperation):
    """A layer with its mapping: ``tiling.layer`` and ``aie2.layer`` share this form."""

    output = result_def(TensorType)
    body = region_def("single_block")
    layer_name = prop_def(StringAttr, prop_name="name")
    split = prop_def(SplitAttr)
    subvolume = prop_def(SubvolumeAttr)
    ddr = prop_def(DDRAttr)
    placement = opt_prop_def(PlacementAttr)
    compaction = opt_prop_def(CompactionAttr)
    keeps_zeros = opt_prop_def(UnitAttr)
    """Set when the mapper runs a block-sparse layer with its zero blocks, uncompacted,
    because that is faster than computing only the kept blocks."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$name attr-dict `:` type($output) $body"

    def __init__(self, name: str, result_type: Attribute, ops: list[Operation],
                 properties: dict[str, Attribute]):
        super().__init__(
            result_types=[result_type],
            regions=[Region(Block(ops))],
            properties={"name": StringAttr(name), **properties},
        )

    @property
    def inner(self) -> Operation:
        """The tg op this layer maps."""
        return self.body.block.first_op  # type: ignore[return-value]

    @property
    def yielded(self) -> SSAValue:
        last = self.body.block.last_op
        assert isinstance(last, YieldOp)
        return last.values[0]

    def transfers(self, kind: str | None = None) -> list[TransferOp]:
        return [op for op in self.body.block.ops
                if isinstance(op, TransferOp) and (kind is None or op.kind.data == kind)]

    def verify_(self) -> None:
        ops = list(self.body.block.ops)
        if not ops or not isinstance(ops[-1], YieldOp):
            raise VerifyException("a tiling.layer body ends with tiling.yield")
        first = ops[0]
        if not isinstance(first, tg.LAYER_OPS) or isinstance(first, tg.WeightOp):
            raise VerifyException("a tiling.layer body starts with the tg op it maps")
        yielded = ops[-1].values
        if len(yielded) != 1 or yielded[0].type != self.output.type:
            raise VerifyException("tiling.yield must return one value of the layer's type")


@irdl_op_definition
class LayerOp(MappedLayer):
    """One layer mapped onto the array; the body holds the op and its data movement."""

    name = "tiling.layer"


def _layer_kinds() -> tuple[type[Operation], ...]:
    from bsir.dialects.aie2 import LayerOp as Aie2LayerOp

    return (LayerOp, Aie2LayerOp)


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The value a tiling.layer produces."""

    name = "tiling.yield"

    values = var_operand_def(TensorType)
    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(*_layer_kinds())))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, value: SSAValue):
        super().__init__(operands=[[value]])


@irdl_op_definition
class TransferOp(IRDLOperation):
    """A data movement between memory levels, repeated ``count`` times."""

    name = "tiling.transfer"

    kind = prop_def(StringAttr)
    tensor = prop_def(StringAttr)
    bytes = prop_def(IntegerAttr)
    count = prop_def(IntegerAttr)
    address = opt_prop_def(IntegerAttr)
    ahead = opt_prop_def(IntegerAttr)
    """A weight prefetch (``loadw`` only): its first load (the first COUT band's, when
    there are ``count``) is issued while this many layers before the layer still run,
    into memtile space free until the layer (``--overlap weights``)."""

    early = opt_prop_def(IntegerAttr)
    """Of a prefetch, the bytes a memtile loads ahead when not all of them do (from
    ``early_at`` in each memtile's share; the rest load when the layer starts)."""
    early_at = opt_prop_def(IntegerAttr)

    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(HasParent(LayerOp))
    assembly_format = "attr-dict"

    def __init__(self, kind: str, tensor: str, nbytes: int, count: int,
                 address: int | None = None):
        properties: dict[str, Attribute] = {
            "kind": StringAttr(kind), "tensor": StringAttr(tensor),
            "bytes": i64_attr(int(nbytes)), "count": i64_attr(int(count)),
        }
        if address is not None:
            properties["address"] = i64_attr(int(address))
        super().__init__(properties=properties)

    @property
    def layers_ahead(self) -> int:
        """How many layers early a weight prefetch is issued (0: with its layer)."""
        return self.ahead.value.data if self.ahead is not None else 0

    @property
    def prefetch(self) -> dict[str, int]:
        """``ahead``, ``early`` and ``early_at``, those the transfer has (the fields the
        instruction that implements it carries)."""
        return {key: attr.value.data for key in PREFETCH_FIELDS
                if isinstance(attr := self.properties.get(key), IntegerAttr)}

    @property
    def memtile_address(self) -> int | None:
        """The memtile address the transfer reads or writes (set by the allocator)."""
        return self.address.value.data if self.address is not None else None

    @property
    def nbytes(self) -> int:
        return self.bytes.value.data

    @property
    def repeat(self) -> int:
        return self.count.value.data

    def verify_(self) -> None:
        if self.kind.data not in TRANSFER_KINDS:
            raise VerifyException(
                f"unknown transfer kind '{self.kind.data}' ({', '.join(TRANSFER_KINDS)})"
            )
        if self.nbytes < 0 or self.repeat < 0:
            raise VerifyException("transfer bytes and count must be non-negative")
        if self.ahead is not None:
            if self.kind.data != "loadw":
                raise VerifyException("only a weight load ('loadw') is prefetched ('ahead')")
            if self.layers_ahead < 1:
                raise VerifyException("a prefetched weight load is issued at least 1 layer "
                                      "ahead")
        check_early_part(self.prefetch, self.nbytes)


@irdl_op_definition
class ComputeOp(IRDLOperation):
    """The cores compute: ``macs`` on the busiest core per iteration, ``count`` times;
    ``macs_total`` over all cores and the whole layer (zero blocks skipped)."""

    name = "tiling.compute"

    macs = prop_def(IntegerAttr)
    count = prop_def(IntegerAttr)
    macs_total = prop_def(IntegerAttr)

    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(HasParent(LayerOp))
    assembly_format = "attr-dict"

    def __init__(self, macs: int, count: int, macs_total: int):
        super().__init__(properties={
            "macs": i64_attr(int(macs)), "count": i64_attr(int(count)),
            "macs_total": i64_attr(int(macs_total)),
        })

    def verify_(self) -> None:
        if min(self.macs.value.data, self.count.value.data, self.macs_total.value.data) < 0:
            raise VerifyException("compute counts must be non-negative")


TILING = Dialect(
    "tiling",
    [LayerOp, YieldOp, TransferOp, ComputeOp],
    [HardwareAttr, SplitAttr, SubvolumeAttr, DDRAttr, PlacementAttr, CompactionAttr],
)
