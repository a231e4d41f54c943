"""``convert-tiling-to-aie2``: the first code-generation pass (paper section 4.4).

Every ``tiling.layer`` becomes an ``aie2.layer`` whose body holds, after the tg op it
implements, the layer's instructions:

1. DDR: ``LOAD`` of activations not resident, ``LOADW`` of the weights, ``WRITE`` of
   results and spills (from the tiling transfers and placement);
2. ``LOADWDM``: the weights of each core's chunk, memtile to cores, halting;
3. the streamed rows as groups of ``LOADFM``, ``COMP``, ``WRITEFM``: a *head* and a
   *tail* where padding makes the first or last row block read a different number of
   input rows (paper Eq. 8), and a *body* of identical iterations between them. Each
   group repeats once per width, channel and band chunk of the core's work.

Addresses come from the placement (memtile) and the fixed core layout: input ping/pong
at 0 and ``input_buffer``, output ping/pong after them, then weights. Locks are left to
``aie2-form-lock-chains``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from math import ceil

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import aie2, tg, tiling
from bsir.passes.convert_tg_to_tiling import module_array, split_of
from bsir.passes.tiling_color_memtiles import tile_bytes
from bsir.stats import only_graph
from bsir.targets.aie2.hardware import AIE2Array
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.mapping import DDRTiling, band_bytes, even_bounds
from bsir.targets.aie2.memtile_allocator import align


@dataclass(frozen=True)
class CoreLayout:
    """Fixed addresses of a core's buffers."""

    input: int
    output: int
    weights: int

    @staticmethod
    def of(array: AIE2Array) -> CoreLayout:
        return CoreLayout(0, 2 * array.input_buffer,
                          2 * array.input_buffer + 2 * array.output_buffer)


def _geometry(op: Operation) -> tuple[int, int, int, int, int]:
    """(input rows, kernel rows, stride, dilation, top pad) along H."""
    if isinstance(op, tg.Conv2dOp):
        h = tg.tensor_shape(op.input)[1]
        return h, tg.tensor_shape(op.weight)[1], op.stride_hw[0], op.dilation_hw[0], op.pads[0]
    if isinstance(op, tg.MaxPool2dOp | tg.AvgPool2dOp):
        return tg.tensor_shape(op.input)[1], op.kernel_hw[0], op.stride_hw[0], 1, op.pads[0]
    if isinstance(op, tg.GlobalAvgPoolOp):
        h = tg.tensor_shape(op.input)[1]
        return h, h, h, 1, 0
    shape = tg.tensor_shape(op.results[0])
    h = shape[1] if len(shape) == 4 else 1
    return h, 1, 1, 1, 0


def input_rows(op: Operation, r0: int, r1: int) -> int:
    """Input rows that output rows [r0, r1) read, padding excluded."""
    h, k, stride, dilation, top = _geometry(op)
    first = r0 * stride - top
    last = (r1 - 1) * stride - top + dilation * (k - 1)
    return max(0, min(last, h - 1) - max(first, 0) + 1)


@dataclass(frozen=True)
class RowGroup:
    phase: str
    out_rows: int      # output rows per iteration
    in_rows: int       # input rows read per iteration (the largest of the group)
    first_row: int     # first input row read (for the memtile address)
    iterations: int


def row_groups(op: Operation, out_h: int, block: int, bands: int) -> list[RowGroup]:
    """Head, body and tail of the streamed output rows of one core."""
    blocks = []
    for b0, b1 in pairwise(even_bounds(out_h, bands)):
        for r in range(b0, b1, block):
            blocks.append((r, min(r + block, b1)))
    if not blocks:
        return []
    h, k, stride, dilation, top = _geometry(op)

    def clipped(r0: int, r1: int) -> tuple[bool, bool]:
        """Does the block's input window run into the top or bottom padding?"""
        first = r0 * stride - top
        last = (r1 - 1) * stride - top + dilation * (k - 1)
        return first < 0, last > h - 1

    signature = [(r1 - r0, input_rows(op, r0, r1), *clipped(r0, r1)) for r0, r1 in blocks]
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
    return groups


def lower_layer(layer: tiling.LayerOp, array: AIE2Array) -> list[aie2.InstructionOp]:
    """The instructions of one mapped layer."""
    sub = layer.subvolume.as_dict()
    ddr = layer.ddr.as_dict()
    place = layer.placement.as_dict() if layer.placement is not None else None
    if place is None:
        raise PassFailedException(
            f"layer '{layer.layer_name.data}' is not placed: run tiling-color-memtiles first")
    inputs = tiling.PlacementAttr.pairs(place["inputs"])
    w_addr = place["weights"][0]
    out_addr = place["output"][0]
    core = CoreLayout.of(array)
    out: list[aie2.InstructionOp] = []

    def memtile(address: int) -> int:
        return max(address, 0)  # streamed tensors use a band buffer at 0

    for transfer in layer.transfers():
        kind, nbytes, count = transfer.kind.data, transfer.nbytes, transfer.repeat
        if count == 0 or nbytes == 0:
            continue
        if kind == "load":
            tensor = transfer.tensor.data
            if tensor == "output":  # a partly written concatenation, reloaded
                address = out_addr
            else:
                index = int(tensor.removeprefix("input") or 0)
                address = inputs[index][0] if index < len(inputs) else 0
            out.append(aie2.LoadOp("ddr", memtile=memtile(address), bytes=nbytes, iter=count))
        elif kind == "loadw":
            out.append(aie2.LoadWOp("ddr", memtile=memtile(w_addr), bytes=nbytes, iter=count))
        elif kind in ("store", "spill"):
            out.append(aie2.WriteOp("ddr", memtile=memtile(out_addr) if kind == "store" else 0,
                                    bytes=nbytes, iter=count))
    inner = layer.inner
    passes = ddr["h_passes"] * ddr["cout_passes"]
    if sub["weight_loads"]:
        out.append(aie2.LoadWDMOp("once", memtile=memtile(w_addr), core=core.weights,
                                  bytes=sub["weight_bytes"], iter=1,
                                  repeat=sub["weight_loads"] * passes))
    out_shape = tg.tensor_shape(inner.results[0])
    out_h = out_shape[1] if len(out_shape) == 4 else 1
    bands = ddr["h_passes"]
    band_h = ceil(out_h / bands)
    # A row-banded layer runs the same program once per band, on band buffers.
    groups = row_groups(inner, band_h if bands > 1 else out_h, sub["h"], 1)
    rows_per_pass = sum(g.iterations for g in groups)
    repeat = max(1, round(sub["iterations"] / max(rows_per_pass, 1))) * passes
    tiles = len(array.activation_memtiles)
    activations = [v for v in inner.operands if not isinstance(v.owner, tg.WeightOp)]
    in_h = _geometry(inner)[0]
    in_pitch = tile_bytes(activations[0], tiles) // max(in_h, 1) if activations else 0
    out_pitch = tile_bytes(inner.results[0], tiles) // max(out_h, 1)
    row_bytes = sub["input_bytes"] // max(sub["in_h"], 1)
    if out_addr < 0:  # streamed: weights, then the input band, then the output band
        shape = layer_shape(inner)
        ddr_tiling = DDRTiling(ddr["h_passes"], ddr["cout_passes"])
        in_band, out_band, w_band = band_bytes(shape, split_of(layer), array, ddr_tiling)
        in_addr = align(w_band) if w_band else 0
        out_base = in_addr if shape.kind == "eltwise" else in_addr + align(in_band)
        out_pitch = out_band // max(band_h, 1) if out_band else in_band // max(band_h, 1)
        in_pitch = min(in_pitch, in_band // max(input_rows(inner, 0, band_h), 1))
    else:
        in_addr = memtile(inputs[0][0]) if inputs else 0
        out_base = memtile(out_addr)
    out_row = 0
    for group in groups:
        body = group.phase == "body"
        macs = ceil(sub["macs"] * group.out_rows / max(sub["h"], 1))
        fields = {"iter": group.iterations, "repeat": repeat}
        step = group.out_rows * _geometry(inner)[2]
        out.append(aie2.LoadFMOp(
            group.phase, memtile=in_addr + group.first_row * in_pitch, core=core.input,
            bytes=group.in_rows * row_bytes, extent=group.in_rows * in_pitch,
            stride=step * in_pitch if body else 0, **fields))
        out.append(aie2.CompOp(group.phase, macs=macs, **fields))
        out.append(aie2.WriteFMOp(
            group.phase, memtile=out_base + out_row * out_pitch, core=core.output,
            bytes=group.out_rows * sub["w"] * sub["cout"], extent=group.out_rows * out_pitch,
            stride=group.out_rows * out_pitch if body else 0, **fields))
        out_row += group.out_rows * group.iterations
    return out


@dataclass(frozen=True)
class ConvertTilingToAie2Pass(ModulePass):
    """Generate the loads, computes and stores of every mapped layer."""

    name = "convert-tiling-to-aie2"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        array = module_array(op)
        block = only_graph(op).block
        for layer in list(block.ops):
            if not isinstance(layer, tiling.LayerOp) or isinstance(layer, aie2.LayerOp):
                continue
            instructions = lower_layer(layer, array)
            lowered = aie2.LayerOp(layer.layer_name.data, layer.output.type, [],
                                   {k: v for k, v in layer.properties.items() if k != "name"})
            block.insert_op_before(lowered, layer)
            body = lowered.body.block
            for inner in list(layer.body.block.ops):
                if isinstance(inner, tiling.TransferOp | tiling.ComputeOp):
                    continue
                inner.detach()
                if isinstance(inner, tiling.YieldOp):
                    for instruction in instructions:
                        body.add_op(instruction)
                body.add_op(inner)
            layer.output.replace_all_uses_with(lowered.output)
            block.erase_op(layer)
