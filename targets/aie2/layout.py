"""Where the bytes of an activation lie: memtile distribution, views and DDR homes.

Every activation is seen as ``(H, W, C)`` (NHWC with batch 1; a 2-D ``[N, K]`` value as
``(N, 1, K)``). On ``T`` activation memtiles a tensor is spread the way
``tiling-color-memtiles`` sizes it: by columns when ``W >= T`` (memtile t holds columns
``[t*ceil(W/T), ...)``, all channels), else by channels. Inside a memtile it is
row-major ``(h, w_local, c)`` or ``(h, w, c_local)`` with one row pitch for every
memtile, at the same address on each.

A value may share the bytes of another (its *root*): flatten, reshape, quantize and
dequantize are views of their input, and each input of a concatenation is written in
place into the concatenation's buffer at its offset along the joined axis (channels,
or tokens: a class token before the patches). :func:`value_views` gives
every value its root and the index map to it; the allocator and the simulator both use
it, so they agree on which bytes a value owns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import ceil

import numpy as np
from xdsl.ir import Block, Operation, SSAValue

from bsir import quant
from bsir.dialects import tg, tiling
from bsir.targets.aie2.layer_shape import (
    ACTIVATION_OPS,
    activation_operands,
    host_of,
    hwc,
    layer_inputs,
)

VIEW_OP_TYPES = (tg.FlattenOp, tg.ReshapeOp, tg.QuantizeOp, tg.DequantizeOp)
FUSABLE_OPS = (tg.AddOp, *ACTIVATION_OPS)
"""The ops a layer may compute with another's (fused activations and additions)."""


@dataclass(frozen=True)
class Distribution:
    """An (h, w, c) tensor (or band) spread over ``tiles`` activation memtiles."""

    h: int
    w: int
    c: int
    tiles: int

    @property
    def by_columns(self) -> bool:
        return self.w >= self.tiles

    @property
    def part(self) -> int:
        """Columns (by columns) or channels (by channels) per memtile."""
        return ceil(self.w / self.tiles) if self.by_columns else ceil(self.c / self.tiles)

    @property
    def pitch(self) -> int:
        """Bytes between consecutive rows on one memtile."""
        return self.part * self.c if self.by_columns else self.w * self.part

    @property
    def tile_bytes(self) -> int:
        """Bytes on the busiest memtile."""
        return self.h * self.pitch

    def locate(self, hh: np.ndarray, ww: np.ndarray, cc: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """(memtile index, byte offset) of elements (broadcast index arrays)."""
        if self.by_columns:
            return ww // self.part, hh * self.pitch + (ww % self.part) * self.c + cc
        return cc // self.part, hh * self.pitch + ww * self.part + cc % self.part


def distribution_of(value: SSAValue, tiles: int) -> Distribution:
    return Distribution(*hwc(value), tiles)


@dataclass(frozen=True)
class ViewStep:
    """One hop from a value towards its root: a reshape, or a concatenation input."""

    kind: str                          # "reshape" or "concat"
    source: tuple[int, int, int]       # hwc of the value before the hop
    target: tuple[int, int, int]       # hwc after it
    offset: int = 0                    # offset in the concatenation along ``axis``
    fix: tuple[int, int] | None = None  # (from, to) fix positions when they differ
    axis: int = 2                      # the (h, w, c) axis a concatenation joins


@dataclass(frozen=True)
class View:
    """A value as part of its root's bytes."""

    value: SSAValue
    root: SSAValue
    steps: tuple[ViewStep, ...] = ()

    def to_root(self, hh: np.ndarray, ww: np.ndarray, cc: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Root indices of the value's elements (h, w, c)."""
        for step in self.steps:
            if step.kind == "concat":
                index = [hh, ww, cc]
                index[step.axis] = index[step.axis] + step.offset
                hh, ww, cc = index
            else:
                _, w, c = step.source
                flat = (hh * w + ww) * c + cc
                _, w2, c2 = step.target
                hh, rest = np.divmod(flat, w2 * c2)
                ww, cc = np.divmod(rest, c2)
        return hh, ww, cc

    def requantize(self, values: np.ndarray) -> np.ndarray:
        """int8 values of the value as stored in the root: moved to the fix position of
        each concatenation on the way (rounded as bsir.quant does)."""
        for step in self.steps:
            if step.fix is not None:
                values = quant.requantize(values.astype(np.int64), *step.fix)
        return values


def _concat_fix(concat: tg.ConcatOp, index: int) -> tuple[int, int] | None:
    quant = getattr(concat, "quant", None)
    if quant is None:
        return None
    source, target = quant.input_positions[index], quant.output_position
    return (source, target) if source != target else None


def concat_axis(concat: tg.ConcatOp) -> int | None:
    """The (h, w, c) axis a concatenation joins (:func:`hwc`: the last axis is C, the
    one before W, those before H), or None where its inputs are not whole blocks of H
    (an axis with a longer one before it)."""
    shape, axis = tg.tensor_shape(concat.output), concat.axis.value.data
    if axis >= len(shape) - 2:
        return 2 - (len(shape) - 1 - axis)
    return 0 if all(size == 1 for size in shape[:axis]) else None


def _written_in_place(concat: tg.ConcatOp, index: int, root: SSAValue) -> bool:
    """Whether a layer writes a concatenation's input ``index``, so that it can write
    it in place: not a weight or a graph input, nor a value joined twice into the same
    concatenation. ``root``: the input's root through the views before it."""
    value = concat.inputs[index]
    return (isinstance(root.owner, Operation) and not isinstance(root.owner, tg.WeightOp)
            and root is not concat.output
            and all(v is not value for v in concat.inputs[:index]))


Parents = dict[SSAValue, tuple[SSAValue, tuple[ViewStep, ...]]]


def value_views(block: Block, values: Iterable[SSAValue] = ()) -> dict[SSAValue, View]:
    """The view of every activation value of a graph block (ops nested in layer
    wrappers are seen through their results)."""
    parent: Parents = {}
    ops = list(block.ops)
    for op in ops:
        if isinstance(op, VIEW_OP_TYPES):
            source, result = op.operands[0], op.results[0]
            steps = () if hwc(source) == hwc(result) else \
                (ViewStep("reshape", hwc(result), hwc(source)),)
            parent[result] = (source, steps)
    views = dict(parent)
    for op in ops:
        axis = concat_axis(op) if isinstance(op, tg.ConcatOp) else None
        if axis is None:
            continue
        offset = 0
        for index, value in enumerate(op.inputs):
            placed = _placement(parent, views, op, index, offset)
            if placed is not None:
                parent[placed[0]] = (op.output, placed[1])
            offset += hwc(value)[axis]
    out: dict[SSAValue, View] = {}
    every = [*block.args, *(r for op in ops for r in op.results), *values]
    for value in every:
        current, path = _walk(parent, value)
        out[value] = View(value, current, path)
    return out


def _walk(parent: Parents, value: SSAValue) -> tuple[SSAValue, tuple[ViewStep, ...]]:
    path: list[ViewStep] = []
    while value in parent:
        value, steps = parent[value]
        path.extend(steps)
    return value, tuple(path)


def _placement(parent: Parents, views: Parents, concat: tg.ConcatOp, index: int,
               offset: int) -> tuple[SSAValue, tuple[ViewStep, ...]] | None:
    """The buffer a concatenation's input brings into it and the steps placing it: the
    input's root (through views) at ``offset``; or, for an input joined into another
    concatenation before, that one's whole buffer where it puts the input at ``offset``
    (DenseNet joins its features again and again, each join the last one and more)."""
    value, axis = concat.inputs[index], concat_axis(concat)
    root, _ = _walk(views, value)
    if not _written_in_place(concat, index, root):
        return None
    target = hwc(concat.output)
    if root not in parent:
        reshape = () if hwc(root) == hwc(value) else \
            (ViewStep("reshape", hwc(root), hwc(value)),)
        return root, (*reshape, ViewStep("concat", hwc(value), target, offset,
                                         _concat_fix(concat, index), axis))
    outer, path = _walk(parent, root)
    # the input's values in the other buffer are this one's: no move of fix position
    if outer is concat.output or hwc(root) != hwc(value) or _concat_fix(concat, index) \
            or any(s.kind != "concat" or s.axis != axis or s.fix for s in path):
        return None
    start, size = offset - sum(s.offset for s in path), hwc(outer)
    if start < 0 or start + size[axis] > target[axis] or \
            any(size[a] != target[a] for a in range(3) if a != axis):
        return None
    return outer, (ViewStep("concat", size, target, start, None, axis),)


def in_place(views: dict[SSAValue, View], concat: tg.ConcatOp, index: int) -> bool:
    """Whether a concatenation's input ``index`` lies in its buffer where the
    concatenation reads it (:func:`value_views` placed it there)."""
    axis = concat_axis(concat)
    value, whole = views[concat.inputs[index]], views[concat.output]
    if axis is None or value.root is not whole.root:
        return False
    at = [0, 0, 0]  # the input's first element, where the concatenation reads it
    at[axis] = sum(hwc(v)[axis] for v in concat.inputs[:index])
    return tuple(map(int, value.to_root(0, 0, 0))) == tuple(map(int, whole.to_root(*at)))


class LiveTensors:
    """The activation tensors of a graph block (views counted once, as their root), the
    ones each op reads or writes, and their bytes per activation memtile: what
    :meth:`bytes_across` counts, worked out once for a mapper that asks again as it
    fuses additions into the layers before them."""

    def __init__(self, block: Block, tiles: int):
        views = value_views(block)
        self.ops = list(block.ops)
        self.touched: list[tuple[SSAValue, ...]] = []
        for op in self.ops:  # a weight counts where it is read as data (from DDR)
            reads = layer_inputs(op) if isinstance(op, tiling.MappedLayer) \
                else activation_operands(op)
            writes = () if isinstance(op, tg.WeightOp) else op.results
            self.touched.append(tuple(views[value].root for value in (*reads, *writes)
                                      if value in views))
        last = self.ops[-1] if self.ops else None
        self.outputs = tuple(views[v].root for v in getattr(last, "operands", ()) if v in views)
        self.size = {root: distribution_of(root, tiles).tile_bytes
                     for roots in self.touched for root in roots}
        # the ops :func:`host_of` may place in another op's layer
        self.guests = [op for op in self.ops if isinstance(op, FUSABLE_OPS)]

    def bytes_across(self) -> dict[object, int]:
        """For each op, the bytes per activation memtile of the tensors alive across it
        that it neither reads nor writes (produced before it, read after it): room its
        own working set cannot count on unless they are spilled. A fused activation or
        addition runs in its host's layer (:func:`host_of`, read now: fusions marked
        since construction count)."""
        ops = self.ops
        position = {op: index for index, op in enumerate(ops)}
        runs_in = {op: position[host_of(op)] for op in self.guests}
        first: dict[SSAValue, int] = {}
        last: dict[SSAValue, int] = {}
        touched = [set() for _ in ops]
        for at, (op, roots) in enumerate(zip(ops, self.touched, strict=True)):
            index = runs_in.get(op, at)
            touched[index].update(roots)
            for root in roots:
                if first.get(root, index) >= index:
                    first[root] = index
                if last.get(root, index) <= index:
                    last[root] = index
        for root in self.outputs:
            last[root] = len(ops)
        size = self.size
        change = [0] * (len(ops) + 1)  # alive strictly between its first and last op
        for root, start in first.items():
            if last[root] - start > 1:
                change[start + 1] += size[root]
                change[last[root]] -= size[root]
        across: dict[object, int] = {}
        alive = 0
        for index, op in enumerate(ops):
            alive += change[index]
            across[op] = alive - sum(size[r] for r in touched[index]
                                     if first[r] < index < last[r])
        return across


def bytes_live_across(block: Block, tiles: int) -> dict[object, int]:
    """For each op of a graph block, the bytes per activation memtile of the tensors
    alive across it that it neither reads nor writes (produced before it, read after
    it): room its own working set cannot count on unless they are spilled. Tensors
    sharing bytes (views, concatenation inputs) count once, as their root. A mapped
    layer reads what the op it wraps reads, and a fused addition's residual."""
    return LiveTensors(block, tiles).bytes_across()
