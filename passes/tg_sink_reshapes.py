"""``tg-sink-reshapes``: element-wise ops move before the reshapes that feed them.

An exporter reshapes a linear layer's output back to the network's axes (197 x 768 to
1 x 197 x 768) before its activation or residual addition; the element-wise op then
reads a view, not the layer's output, and the array runs it as a layer of its own
instead of in the linear layer's (a fused activation, a fused addition). Computing it
on the reshape's input and reshaping its result gives the same values in the same
bytes:

- ``u(reshape(x))`` becomes ``reshape(u(x))`` for ReLU, clip and the table functions
  (GELU, sigmoid, ...);
- ``add(reshape(a), b)`` becomes ``reshape(add(a, reshape(b)))``, ``b`` seen in ``a``'s
  shape (a view; a weight added is left alone: it is read from DDR as it is stored).

A reshape moves only when the op is its one user and its input comes from a layer the
op could then be fused into (a computing layer for an activation; a convolution or
linear layer for an addition that has none yet); reshapes of reshapes become one, or
none. Ops already quantized keep their ``#tg.quant``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    InsertPoint,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from bsir.dialects import tg
from bsir.targets.aie2.layer_shape import FUSING_OPS, residual_host

UNARY_OPS = (tg.ReluOp, tg.ClipOp, *tg.TABLE_OPS)
"""Element-wise ops of one input that move before a reshape."""


def _sinkable(value: SSAValue, hosts: tuple[type[Operation], ...]) -> SSAValue | None:
    """The input of the reshape producing ``value`` when it may move below its one
    user: its input is produced by one of ``hosts`` (a layer the user could run in)."""
    owner = value.owner
    if not isinstance(owner, tg.ReshapeOp) or not value.has_one_use():
        return None
    return owner.input if isinstance(owner.input.owner, hosts) else None


def _copy(op: Operation, operands: list[SSAValue], like: SSAValue) -> Operation:
    """``op`` on ``operands``, its result shaped as ``like``."""
    element = op.results[0].type.element_type  # type: ignore[attr-defined]
    return type(op).create(operands=operands,
                           result_types=[tg.tensor_type(tg.tensor_shape(like), element)],
                           properties=dict(op.properties), attributes=dict(op.attributes))


class SinkReshape(RewritePattern):
    """One reshape moved below the element-wise op it feeds, or two reshapes made one."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, tg.ReshapeOp) and isinstance(op.input.owner, tg.ReshapeOp) \
                and op.input.has_one_use():  # a reshape of a reshape: one, or none
            inner = op.input.owner
            source = inner.input
            if tg.tensor_shape(source) == tg.tensor_shape(op.output):
                rewriter.replace(op, [], [source])
            else:
                rewriter.replace(op, tg.ReshapeOp(source, tg.tensor_shape(op.output)))
            rewriter.erase(inner)
            return
        if isinstance(op, UNARY_OPS):
            index, source = 0, _sinkable(op.operands[0], FUSING_OPS)
        elif isinstance(op, tg.AddOp) and op.lhs is not op.rhs and residual_host(op) is None:
            index, source = next(((i, s) for i, v in enumerate(op.operands)
                                  if (s := _sinkable(v, tg.WEIGHTED_OPS)) is not None),
                                 (0, None))
        else:
            return
        if source is None:
            return
        reshape = op.operands[index].owner
        operands = list(op.operands)
        operands[index] = source
        if isinstance(op, tg.AddOp):
            other = operands[1 - index]
            if isinstance(other.owner, tg.WeightOp):
                return
            viewed = tg.ReshapeOp(other, tg.tensor_shape(source))
            # right after ``other``: a layer the addition is fused into reads it
            rewriter.insert(viewed, InsertPoint.after(other.owner)
                            if isinstance(other.owner, Operation)
                            else InsertPoint.at_start(other.owner))
            operands[1 - index] = viewed.output
        moved = _copy(op, operands, source)
        back = tg.ReshapeOp(moved.results[0], tg.tensor_shape(op.results[0]))
        rewriter.replace(op, [moved, back], [back.output])
        rewriter.erase(reshape)


@dataclass(frozen=True)
class TgSinkReshapesPass(ModulePass):
    """Move element-wise ops before the reshapes that feed them."""

    name = "tg-sink-reshapes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if any(isinstance(inner, tg.ReshapeOp) for inner in op.walk()):  # else: no walk
            PatternRewriteWalker(SinkReshape()).rewrite_module(op)
