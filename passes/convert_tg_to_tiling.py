"""``convert-tg-to-tiling``: map every layer onto the AIE2 array.

Each computing tg op (with the ReLU/clip it feeds, fused) becomes a ``tiling.layer``
holding its split, subvolume and DDR tiling (targets/aie2/mapping.py) and a body of
transfers and compute with iteration counts. Views (flatten, reshape, quantize,
dequantize) and concatenations (written in place by their producers, along channels or
tokens) stay tg ops; an input of a concatenation that no layer writes in place (a
class token, a graph input, a value joined twice) is copied in by a layer of its own.

Options::

    grid=4x4            rows x columns of cores (1..8 each)
    memtiles=shared     shared | separate (half the memtiles hold weights)
    hardware=""         a preset (ryzen-ai-phoenix, ryzen-ai-strix, aie2-RxC) or a .toml
                        file; overrides grid

A layer that cannot be mapped fails with its name, the memory that overflows and by
how many bytes. Data movement into memtiles of activations (``load``) and back to DDR
(``store``/``spill``) is decided by ``tiling-color-memtiles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, UnitAttr
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    InsertPoint,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.utils.exceptions import PassFailedException

from bsir.diagnostics import BsirError, MappingFailed
from bsir.dialects import tg, tiling
from bsir.dialects.tg import layer_names, only_graph
from bsir.targets.aie2.hardware import AIE2Array, array_to_attr, parse_grid, resolve_array
from bsir.targets.aie2.layer_shape import (
    FUSED_ADD_ATTR,
    VIEW_OPS,
    activation_operands,
    fused_chain,
    hwc,
    layer_shape,
    residual_host,
)
from bsir.targets.aie2.layout import (
    LiveTensors,
    View,
    concat_axis,
    in_place,
    value_views,
)
from bsir.targets.aie2.mapping import (
    LayerMapping,
    LayerShape,
    band_weight_bytes,
    fusion_pays,
    map_layer_among,
)


def constant_operand(layer: Operation) -> str | None:
    """The key of a weight ``layer`` reads as data (a class token, a constant added):
    among its :func:`activation_operands`, not its parameters; else None."""
    for value in activation_operands(layer):
        if isinstance(value.owner, tg.WeightOp):
            return value.owner.key.data
    return None


SPATIAL_OPS = (tg.Conv2dOp, tg.MaxPool2dOp, tg.AvgPool2dOp, tg.GlobalAvgPoolOp)
"""Ops over an image's rows and columns (a batch of more than one is not an image)."""


def unmappable(layer: Operation) -> str | None:
    """Why the array cannot map ``layer`` yet (None: it can)."""
    if isinstance(layer, tg.ConcatOp) and concat_axis(layer) is None:
        return (f"it joins axis {layer.axis.value.data} of {list(tg.tensor_shape(layer.output))}"
                ", whose inputs are not whole blocks of the rows the array holds")
    if isinstance(layer, SPATIAL_OPS):
        shape = tg.tensor_shape(layer.operands[0])
        if shape[0] != 1:
            return (f"its input {list(shape)} is a batch of {shape[0]} images; the "
                    "array's have one")
    data = constant_operand(layer)
    if data is None or isinstance(layer, (*VIEW_OPS, tg.TransposeOp, tg.SliceOp)) or (
            isinstance(layer, tg.AddOp)
            and all(hwc(v) == hwc(layer.results[0]) for v in layer.operands)):
        return None  # seen, copied, or an element-wise operand: held in DDR like an input
    return (f"it reads weight '{data}' as data; a weight maps as data only when added to "
            "an activation of its own shape, copied (a transpose, a slice, a "
            "concatenation's input) or as a per-channel constant's product")


def mapping_properties(mapping: LayerMapping) -> dict:
    sub = mapping.sub
    return {
        "split": tiling.SplitAttr.make(mode=mapping.split.column_mode,
                                       cols=mapping.split.col_bounds,
                                       rows=mapping.split.row_bounds,
                                       parts=mapping.split.parts),
        "subvolume": tiling.SubvolumeAttr.make(
            h=sub.h, w=sub.w, cout=sub.cout, cin=sub.cin, in_h=sub.in_h, in_w=sub.in_w,
            input_bytes=sub.input_bytes, output_bytes=sub.output_bytes,
            weight_bytes=sub.weight_bytes, iterations=sub.iterations,
            weight_loads=sub.weight_loads, weights_moved=sub.weights_moved,
            macs=sub.macs_per_iteration,
            cin_split=sub.cin_split_code),
        "ddr": tiling.DDRAttr.make(h_passes=mapping.ddr.h_passes,
                                   cout_passes=mapping.ddr.cout_passes),
        **({"keeps_zeros": UnitAttr()} if mapping.keeps_zeros else {}),
    }


def layer_body_ops(mapping: LayerMapping, array: AIE2Array) -> list[Operation]:
    """The transfers and compute of one layer (activation DDR traffic comes later)."""
    shape, sub, ddr = mapping.shape, mapping.sub, mapping.ddr
    passes = ddr.passes
    ops: list[Operation] = []
    if shape.weighted:
        ops.append(tiling.TransferOp("loadw", "weights", band_weight_bytes(shape, array, ddr),
                                     passes))
    for index in range(shape.inputs):
        ops.append(tiling.TransferOp("to_cores", f"input{index}",
                                     sub.input_bytes // shape.inputs, sub.iterations * passes))
    if shape.residual:  # a fused addition's other operand, with each output tile
        ops.append(tiling.TransferOp("to_cores", f"input{shape.inputs}",
                                     shape.residual_bytes(sub.h, sub.w, sub.cout),
                                     sub.iterations * passes))
    if shape.weighted:
        ops.append(tiling.TransferOp("weights_to_cores", "weights", sub.weight_bytes,
                                     sub.weight_loads * passes))
    ops.append(tiling.ComputeOp(sub.macs_per_iteration, sub.iterations * passes,
                                round(shape.dense_macs * shape.density())))
    chunks = ceil(shape.cin_per_group / sub.cin) if sub.cin_split else 1
    # partial sums in the core leave it once; through the memtile, after every chunk
    writes = sub.iterations // (1 if sub.sums_in_memtile else chunks)
    ops.append(tiling.TransferOp("from_cores", "output", sub.output_bytes, writes * passes))
    return ops


def fuse_additions(block: Block, array: AIE2Array, tiles: int, row_parts: bool = True
                   ) -> tuple[list[tg.AddOp], dict[Operation, int]]:
    """Mark each addition that runs faster fused into the convolution (or matrix
    product) producing one of its operands than as a layer of its own: the fused layer
    reads the other operand tile by tile with its input, the separate addition reads
    both operands and writes its output again. Costs are the mapper's estimates, each
    layer among the bytes other tensors hold across it (``tiles`` activation memtiles)
    in the network it would run in: the two layers apart among the tensors live when
    no addition is fused, the fused layer among those live when every candidate is (its
    residual is then its own input, no longer a tensor alive across it). Returns the
    marked additions and, for every op, the bytes live across it once they are fused
    (:meth:`~bsir.targets.aie2.layout.LiveTensors.bytes_across`)."""
    candidates = []
    for op in block.ops:
        host = residual_host(op)
        if host is None:
            continue
        alone, add = layer_shape(host), layer_shape(op)
        if alone is not None and add is not None:
            candidates.append((op, host, alone, add))
    live = LiveTensors(block, tiles)
    if not candidates:
        return [], live.bytes_across()
    apart = live.bytes_across()
    for op, *_ in candidates:
        op.attributes[FUSED_ADD_ATTR] = UnitAttr()
    together = live.bytes_across()
    fused = []
    for op, host, alone, add in candidates:
        if fusion_pays(alone, add, array, apart[host], apart[op], together[host], row_parts):
            fused.append(op)
        else:
            del op.attributes[FUSED_ADD_ATTR]
    if len(fused) < len(candidates):
        together = live.bytes_across()
    return fused, together


def map_op(op: Operation, shape: LayerShape, array: AIE2Array, name: str,
           others: int = 0, row_parts: bool = True) -> LayerMapping:
    """The mapping of one layer; ``others``: bytes per memtile other tensors hold across
    it, which partial sums kept in the memtile must leave room for."""
    try:
        return map_layer_among(shape, array, others, row_parts)
    except BsirError as error:
        raise MappingFailed(
            f"cannot map layer '{name}' ({op.name}) on {array.name}: {error.message}"
        ) from None


class CopyIntoConcatenation(RewritePattern):
    """A concatenation's input that no layer writes in place (a weight such as a class
    token, a graph input, a value joined twice or where another concatenation holds it)
    is copied in by a layer of its own: a slice of the whole tensor, which the array
    runs as a gather into the concatenation's buffer. Its name is the concatenation's
    and the input's index (``concat_5.copy0``), added to ``names``."""

    def __init__(self, names: dict[Operation, str]):
        self.names = names
        self.views: dict[SSAValue, View] | None = None  # until a copy changes the graph

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, tg.ConcatOp) or concat_axis(op) is None:
            return
        if self.views is None:
            self.views = value_views(op.parent_block())  # type: ignore[arg-type]
        views = self.views
        for index, value in enumerate(op.inputs):
            if in_place(views, op, index):
                continue
            self.views = None
            last = len(tg.tensor_shape(value)) - 1
            copy = tg.SliceOp(value, last, 0, tg.tensor_shape(value)[last])
            rewriter.insert(copy, InsertPoint.before(op))
            self.names[copy] = f"{self.names[op]}.copy{index}"
            rewriter.replace_uses_with_if(
                value, copy.output,
                lambda use, at=index: use.operation is op and use.index == at)


class WrapLayer(RewritePattern):
    """A mapped tg op (and the ReLU/clip it feeds) -> a ``tiling.layer`` holding it, its
    mapping, and the transfers and compute of its body."""

    def __init__(self, mappings: dict[Operation, tuple[str, LayerMapping]],
                 array: AIE2Array):
        self.mappings, self.array = mappings, array

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if op not in self.mappings or not isinstance(op.parent_op(), tg.GraphOp):
            return
        name, mapping = self.mappings.pop(op)
        chain = fused_chain(op)  # op, a fused addition, a fused activation
        last = chain[-1]
        # a weight the chain reads as data (a fused addition's table) defined between
        # its ops moves before the layer that now reads it
        read = {value for inner in chain for value in inner.operands}
        cursor = op.next_op
        while cursor is not None and cursor is not last:
            following = cursor.next_op
            if isinstance(cursor, tg.WeightOp) and cursor.result in read:
                cursor.detach()
                rewriter.insert(cursor, InsertPoint.before(op))
            cursor = following
        wrapper = tiling.LayerOp(name, last.results[0].type, [], mapping_properties(mapping))
        rewriter.insert(wrapper, InsertPoint.before(op))
        body = InsertPoint.at_end(wrapper.body.block)
        for inner in chain:
            inner.detach()
            rewriter.insert(inner, body)
        yielded = tiling.YieldOp(last.results[0])
        rewriter.insert([*layer_body_ops(mapping, self.array), yielded], body)
        rewriter.replace_uses_with_if(last.results[0], wrapper.output,
                                      lambda use: use.operation is not yielded)


@dataclass(frozen=True)
class ConvertTgToTilingPass(ModulePass):
    """Choose split, subvolume and DDR tiling for every layer."""

    name = "convert-tg-to-tiling"

    grid: str = "4x4"
    memtiles: str = "shared"
    hardware: str = ""
    row_parts: bool = True
    """Let core rows split output rows beside channels (``row-parts=false``: the
    paper's splits only)."""
    resolved: AIE2Array | None = field(default=None, init=False, repr=False, compare=False)
    """The array already read from ``hardware`` (Python only, see :meth:`onto`)."""

    @staticmethod
    def onto(array: AIE2Array, hardware: str, memtiles: str, row_parts: bool = True
             ) -> ConvertTgToTilingPass:
        """The pass for an array a driver has resolved from ``hardware`` (a grid, preset
        or TOML file) and ``memtiles``, which are the options it prints as; the file is
        not read again."""
        try:
            parse_grid(hardware)
            mapping = ConvertTgToTilingPass(grid=hardware.strip(), memtiles=memtiles,
                                            row_parts=row_parts)
        except BsirError:
            mapping = ConvertTgToTilingPass(hardware=hardware, memtiles=memtiles,
                                            row_parts=row_parts)
        object.__setattr__(mapping, "resolved", array)
        return mapping

    def array(self) -> AIE2Array:
        if self.resolved is not None:
            return self.resolved
        try:
            return resolve_array(self.hardware or self.grid, self.memtiles)
        except BsirError as error:
            raise PassFailedException(f"convert-tg-to-tiling: {error.message}") from None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = self.array()
        graph = only_graph(op)
        block = graph.block
        if tiling.ARRAY_ATTR in op.attributes:
            raise PassFailedException(
                "convert-tg-to-tiling: the module is mapped already (it has a "
                f"{tiling.ARRAY_ATTR}); it takes a tg graph")
        names = layer_names(graph)
        if any(isinstance(layer, tg.ConcatOp) for layer in block.ops):
            PatternRewriteWalker(CopyIntoConcatenation(names),
                                 apply_recursively=False).rewrite_module(op)
        for layer in block.ops:
            why = unmappable(layer)
            if why is not None:
                raise PassFailedException(
                    f"convert-tg-to-tiling: cannot map layer '{names[layer]}' ({layer.name}): "
                    f"{why}")
        tiles = len(array.activation_memtiles)
        fused, others = fuse_additions(block, array, tiles, self.row_parts)
        mappings: dict[Operation, tuple[str, LayerMapping]] = {}
        for layer in block.ops:  # map every layer first: a misfit fails before any rewrite
            if not isinstance(layer, (*tg.LAYER_OPS, tg.WeightOp, tg.OutputOp)):
                raise PassFailedException(
                    f"convert-tg-to-tiling: cannot map '{layer.name}': not a tg layer op")
            shape = layer_shape(layer)
            if shape is not None:
                mappings[layer] = names[layer], map_op(layer, shape, array, names[layer],
                                                       others[layer], self.row_parts)
        PatternRewriteWalker(WrapLayer(mappings, array),
                             apply_recursively=False).rewrite_module(op)
        for add in fused:  # inside its layer now: the fusion is explicit
            del add.attributes[FUSED_ADD_ATTR]
        op.attributes[tiling.ARRAY_ATTR] = array_to_attr(array)
