"""``convert-tiling-to-aie2``: the first code-generation pass (paper section 4.4).

Every ``tiling.layer`` becomes an ``aie2.layer`` whose body holds, after the tg op it
implements, the layer's instructions:

1. DDR: ``WRITE`` of tensors spilled to make room, ``LOAD`` of activations not
   resident (or, for a layer streamed through DDR, of each input's band per pass),
   ``LOADW`` of the weights (one COUT band per pass; ``ahead`` when memtile coloring
   lets it load while earlier layers run); ``WRITE`` of results at the end;
2. ``LOADWDM``: the weights of each core's chunk, memtile to cores, halting;
3. the streamed rows as groups of ``LOADFM``, ``COMP``, ``WRITEFM``: a *head* and a
   *tail* where padding makes the first or last row block read a different number of
   input rows (paper Eq. 8), and a *body* of identical iterations between them. Each
   group repeats once per width, channel and band chunk of the core's work. The groups
   are the mapping's program (targets/aie2/program.py), the one the mapper costed.

Memtile addresses come from the placement; a layer streamed through DDR lays out its
band buffers itself (weights at 0, each input band, the output band). ``memtile`` of
LOADFM and WRITEFM is the buffer's base, ``stride`` its row pitch and ``extent`` its
bytes per memtile (targets/aie2/layout.py); which rows, columns and channels each core
moves per iteration follows from the split and subvolume (targets/aie2/schedule.py).
Core addresses are the fixed core layout: input ping/pong at 0 and ``input_buffer``,
output ping/pong after them, then weights. Locks are left to ``aie2-form-lock-chains``.

A layer whose partial sums go through the memtile between input-channel chunks
(``cin_split = 2``) streams each row group once per chunk position (``body.first``,
``body.middle``, ``body.last``): LOADFM of a later chunk reads the core's partial sums
at ``sums`` (the layer's scratch) with its input, WRITEFM of an earlier one writes them
there; each core's sums lie in a region of its column's memtile (``stride`` is a
region's bytes). A layer whose partial sums stay in the core (``cin_split = 3``) streams
the same chunk positions, but its COMP accumulates in the tile's slot from core address
``sums`` (one tile's int32 sums after another over the output buffers, then the
scratch: ``CoreLayout``), and only the last chunk writes: its COMP leaves the tile's
int8 result at the start of the slot, where WRITEFM (``core``, the first slot) takes it.

DMA channels follow the channel plan of the layer's split (targets/aie2/channels.py): a
transfer whose channel is time-shared records ``share``; a layer whose streams, buffer
descriptors or memtile locks overflow a tile's budget is refused, naming the tile, the
resource, what it needs and what it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    InsertPoint,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import aie2, tiling
from bsir.dialects.tg import only_graph
from bsir.targets.aie2.channels import ChannelBudgetError
from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array, CoreLayout, module_array
from bsir.targets.aie2.layer_shape import layer_inputs, mapped_shape
from bsir.targets.aie2.layout import Distribution, distribution_of, value_views
from bsir.targets.aie2.mapping import (
    Split,
    band_distributions,
    split_plan,
    sums_layout,
    tile_sizes,
)
from bsir.targets.aie2.memtile_allocator import align
from bsir.targets.aie2.program import DDRTiling, Subvolume, stream_groups


def _stream_layout(shape: LayerShape, ddr: DDRTiling, array: AIE2Array, activations: list,
                   w_band: int) -> tuple[list[int], int, list[Distribution], Distribution, int]:
    """Band buffers of a layer streamed through DDR: weights at 0, then each input band
    (a fused addition's residual last, a band of the output's shape), then the output
    band (element-wise layers write it over their first input band, a fused addition
    over its residual band), then the partial sums' scratch (its address is returned
    last)."""
    in_dist, out_dist = band_distributions(shape, array, ddr)
    dists = [in_dist] * len(activations)
    if shape.residual:
        dists[-1] = out_dist
    addresses, cursor = [], align(w_band) if w_band else 0
    for dist in dists:
        addresses.append(cursor)
        cursor += align(dist.tile_bytes)
    in_place = shape.kind == "eltwise" or shape.residual  # over the first input, the residual
    out_base = addresses[-1 if shape.residual else 0] if in_place else cursor
    scratch = cursor if in_place else cursor + align(out_dist.tile_bytes)
    return addresses, out_base, dists, out_dist, scratch


def lower_layer(layer: tiling.LayerOp, array: AIE2Array,
                views: dict | None = None) -> list[aie2.InstructionOp]:
    """The instructions of one mapped layer, in program order: spills, loads, weights,
    the stream, stores."""
    shape, sub, ddr = mapped_shape(layer), Subvolume.of(layer), DDRTiling.of(layer)
    place = layer.placement.as_dict() if layer.placement is not None else None
    if place is None:
        raise PassFailedException(
            f"layer '{layer.layer_name.data}' is not placed: run tiling-color-memtiles first")
    inputs = tiling.PlacementAttr.pairs(place["inputs"])
    out_addr = place["output"][0]
    streamed = out_addr < 0
    core = CoreLayout.of(array)
    tiles = len(array.activation_memtiles)
    passes = ddr.passes
    activations = layer_inputs(layer)
    if views is None:
        views = value_views(layer.parent_block())  # type: ignore[arg-type]
    loadw = [t for t in layer.transfers("loadw")]
    w_band = loadw[0].nbytes if loadw else 0
    if streamed:
        in_addrs, out_base, in_dists, out_dist, scratch = _stream_layout(
            shape, ddr, array, activations, w_band)
        w_addr = 0
    else:
        scratch = place["scratch"][0]
        in_addrs = [address for address, _ in inputs]
        out_base = out_addr
        in_dists = [distribution_of(views[v].root, tiles) for v in activations]
        out_dist = distribution_of(views[layer.output].root, tiles)
        w_addr = max(place["weights"][0], 0)  # -1: the layer has no weight bytes
    prologue: list[aie2.InstructionOp] = []
    loads: list[aie2.InstructionOp] = []
    epilogue: list[aie2.InstructionOp] = []
    for transfer in layer.transfers():
        kind, nbytes, count = transfer.kind.data, transfer.nbytes, transfer.repeat
        if count == 0 or nbytes == 0:
            continue
        address = transfer.memtile_address
        if kind == "spill":
            prologue.append(aie2.WriteOp("ddr", memtile=address or 0, bytes=nbytes, iter=count))
        elif kind == "load" and not streamed:
            loads.append(aie2.LoadOp("ddr", memtile=address or 0, bytes=nbytes, iter=count))
        elif kind == "store" and not streamed:
            epilogue.append(aie2.WriteOp("ddr", memtile=out_addr, bytes=nbytes, iter=count))
    if streamed:  # one band of each input in, one band of the output out, per pass
        for address, dist in zip(in_addrs, in_dists, strict=True):
            loads.append(aie2.LoadOp("ddr", memtile=address, bytes=dist.tile_bytes,
                                     iter=passes))
        epilogue.append(aie2.WriteOp("ddr", memtile=out_base, bytes=out_dist.tile_bytes,
                                     iter=passes))
    if w_band:  # a prefetch says how many layers early it is issued, and what part
        loads.append(aie2.LoadWOp("ddr", memtile=w_addr, bytes=w_band, iter=passes,
                                  **loadw[0].prefetch))
    out = prologue + loads
    split = Split.of(layer)
    groups = stream_groups(shape, sub, ddr, split.row_parts)
    try:
        plan = split_plan(shape, array, split, sub.sums_in_memtile)
        plan.check_descriptors(*tile_sizes(groups))
    except ChannelBudgetError as error:
        raise PassFailedException(
            f"layer '{layer.layer_name.data}': {error.message}") from None
    shares = plan.shares
    if sub.weight_loads:
        repeat, moved = sub.weight_loads * passes, sub.weights_moved * passes
        # ``moved`` only where the chunks differ in size from the largest
        uneven = {"moved": moved} if moved != sub.weight_bytes * repeat else {}
        out.append(aie2.LoadWDMOp("once", memtile=w_addr, core=core.weights,
                                  bytes=sub.weight_bytes, iter=1, repeat=repeat, **uneven,
                                  **_shared(shares.loadwdm)))
    in_dist = in_dists[0] if in_dists else Distribution(1, 1, 1, tiles)
    in_addr = in_addrs[0] if in_addrs else 0
    if sub.sums_in_memtile:
        sums = sums_layout(shape, split, array, ddr)
        if scratch < 0:
            raise PassFailedException(
                f"layer '{layer.layer_name.data}' keeps partial sums in the memtile but "
                "its placement has no scratch for them: run tiling-color-memtiles again")
    for group in groups:
        fields = {"iter": group.iterations, "repeat": group.repeat}
        chunk = group.phase.partition(".")[2]
        reads_sums = {"sums": scratch} if sub.sums_in_memtile \
            and chunk in ("middle", "last") else {}
        out.append(aie2.LoadFMOp(
            group.phase, memtile=in_addr, core=core.input, bytes=group.in_bytes,
            extent=in_dist.tile_bytes, stride=in_dist.pitch, **fields, **reads_sums,
            **_shared(shares.loadfm)))
        keeps_sums = {"sums": core.output} if sub.sums_in_scratch else {}  # the first slot
        out.append(aie2.CompOp(group.phase, macs=group.macs, **fields, **keeps_sums))
        if not group.out_bytes:  # partial sums kept in the core's scratch
            continue
        if chunk in ("first", "middle"):  # partial sums back to the memtile
            target = {"memtile": scratch, "extent": sums.tile_bytes,
                      "stride": sums.region_bytes}
        else:
            target = {"memtile": out_base, "extent": out_dist.tile_bytes,
                      "stride": out_dist.pitch}
        out.append(aie2.WriteFMOp(
            group.phase, core=core.output, bytes=group.out_bytes, **target, **fields,
            **_shared(shares.writefm)))
    return out + epilogue


def _shared(share: int) -> dict[str, int]:
    """The ``share`` field of a transfer whose DMA channel other cores use too."""
    return {"share": share} if share > 1 else {}


class LowerLayer(RewritePattern):
    """A ``tiling.layer`` -> an ``aie2.layer`` with the same mapping and ops, its
    transfers and compute replaced by the instructions of its program."""

    def __init__(self, programs: dict[tiling.LayerOp, list[aie2.InstructionOp]]):
        self.programs = programs

    @op_type_rewrite_pattern
    def match_and_rewrite(self, layer: tiling.LayerOp, rewriter: PatternRewriter) -> None:
        instructions = self.programs.pop(layer)
        lowered = aie2.LayerOp(layer.layer_name.data, layer.output.type, [],
                               {k: v for k, v in layer.properties.items() if k != "name"})
        body = InsertPoint.at_end(lowered.body.block)
        for inner in list(layer.body.block.ops):
            if isinstance(inner, tiling.TransferOp | tiling.ComputeOp):
                continue
            inner.detach()
            if isinstance(inner, tiling.YieldOp):
                rewriter.insert(instructions, body)
            rewriter.insert(inner, body)
        rewriter.replace(layer, lowered)


@dataclass(frozen=True)
class ConvertTilingToAie2Pass(ModulePass):
    """Generate the loads, computes and stores of every mapped layer."""

    name = "convert-tiling-to-aie2"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = module_array(op)
        block = only_graph(op).block
        views = value_views(block)
        # every program first: a layer that cannot be lowered fails before any rewrite
        programs = {layer: lower_layer(layer, array, views)
                    for layer in block.ops if isinstance(layer, tiling.LayerOp)}
        PatternRewriteWalker(LowerLayer(programs), apply_recursively=False).rewrite_module(op)
