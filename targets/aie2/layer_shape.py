"""A tg layer op seen by the mapper: its :class:`LayerShape`, or None for a view.

Views (flatten, reshape, quantize, dequantize) move no data on the array: the bytes in
the memtile are already laid out as the consumer reads them. ReLU, clip and the table
functions (sigmoid, hard sigmoid, hard swish, SiLU) are fused into the op that produces
their input when they are its only user. An addition whose operand a convolution (or
matrix product) produces for it alone is fused into that layer: the layer reads the
other operand, its *residual*, tile by tile with its input and adds it to its output
before writing it.
"""

from __future__ import annotations

from dataclasses import replace

from xdsl.ir import Operation, SSAValue

from bsir.dialects import tg, tiling
from bsir.targets.aie2.geometry import BlockMask, Gather, LayerShape, hwc_of_shape

VIEW_OPS = (tg.FlattenOp, tg.ReshapeOp, tg.QuantizeOp, tg.DequantizeOp)
ACTIVATION_OPS = (tg.ReluOp, tg.ClipOp, *tg.TABLE_OPS)
ELEMENTWISE_OPS = (tg.AddOp, *tg.GATED_OPS, tg.ReluOp, tg.ClipOp, *tg.TABLE_OPS, tg.BatchNormOp)
"""Layers whose output may be written in place over an input."""


ROWWISE_OPS = {tg.SoftmaxOp: 4, tg.LayerNormOp: 4}
"""Ops over whole rows of the last axis that the array computes, and the vector
operations each costs per element: softmax finds the row's maximum, looks e^(x - max)
up, sums the row and scales each entry by the row's reciprocal; layer norm sums the row
and its squares, centres each entry and scales it by the inverse square root (then its
weight and bias: one multiply-accumulate, as a depthwise 1x1 convolution's)."""

FUSING_OPS = (tg.Conv2dOp, tg.MatmulOp, tg.MaxPool2dOp, tg.AvgPool2dOp, tg.GlobalAvgPoolOp,
              tg.AddOp, *tg.GATED_OPS, tg.BatchNormOp)
"""Ops whose kernels apply a following ReLU/clip, or a table function (a lookup per
element, as cheap as the requantization before it), on their output for free."""


def is_fused_activation(op: Operation) -> bool:
    """A ReLU/clip whose input comes from a computing layer used by it alone."""
    if not isinstance(op, ACTIVATION_OPS):
        return False
    producer = op.input.owner
    return isinstance(producer, FUSING_OPS) and producer.results[0].has_one_use()


FUSED_ADD_ATTR = "tiling.fused"
"""Marks, while ``convert-tg-to-tiling`` maps a graph, an addition it fuses into the
layer that produces one of its operands (inside a mapped layer the fusion is explicit)."""


def residual_host(op: Operation) -> Operation | None:
    """The convolution or matrix product an addition could be fused into: the later in
    schedule order of its operands' producers that are weighted layers used by the
    addition alone (its other operand is then the layer's *residual*)."""
    if not isinstance(op, tg.AddOp) or op.lhs is op.rhs:
        return None
    block = op.parent_block()
    hosts = [v.owner for v in (op.lhs, op.rhs)
             if isinstance(v.owner, tg.WEIGHTED_OPS) and v.has_one_use()
             and v.owner.parent_block() is block
             and tg.tensor_shape(v) == tg.tensor_shape(op.results[0])]
    if len(hosts) < 2 or block is None:
        return hosts[0] if hosts else None
    return max(hosts, key=block.get_operation_index)


def _sum_host(op: Operation) -> Operation | None:
    """The layer an addition is fused into: inside a mapped layer, the op it maps when
    the addition reads its result; in a graph, the :func:`residual_host` of an addition
    marked with :data:`FUSED_ADD_ATTR`."""
    if not isinstance(op, tg.AddOp):
        return None
    parent = op.parent_op()
    if isinstance(parent, tiling.MappedLayer):
        inner = parent.inner
        if inner is op or not isinstance(inner, tg.WEIGHTED_OPS):
            return None
        lhs, rhs = op.operands
        return inner if inner.results[0] in (lhs, rhs) and lhs is not rhs else None
    return residual_host(op) if FUSED_ADD_ATTR in op.attributes else None


def is_fused_add(op: Operation) -> bool:
    """An addition computed by the layer that produces one of its operands (a
    convolution adding its residual on the way out)."""
    return _sum_host(op) is not None


def fused_add(op: Operation) -> tg.AddOp | None:
    """The addition a weighted layer computes with its output, if any."""
    if not isinstance(op, tg.WEIGHTED_OPS) or not op.results[0].has_one_use():
        return None
    user = next(iter(op.results[0].uses)).operation
    return user if isinstance(user, tg.AddOp) and _sum_host(user) is op else None


def residual_of(add: tg.AddOp, host: Operation) -> SSAValue:
    """The operand of a fused addition its host layer does not compute."""
    return add.rhs if add.lhs is host.results[0] else add.lhs


def fused_chain(op: Operation) -> list[Operation]:
    """The ops one layer computes: ``op``, the addition fused into it, then the
    activation fused into the last of those."""
    chain = [op]
    add = fused_add(op)
    if add is not None:
        chain.append(add)
    users = [use.operation for use in chain[-1].results[0].uses]
    chain += [u for u in users if is_fused_activation(u)]
    return chain


def host_of(op: Operation) -> Operation:
    """The op whose layer computes ``op``: itself, or the layer a fused activation or
    addition runs in."""
    if is_fused_activation(op):
        return host_of(op.input.owner)
    host = _sum_host(op)
    return op if host is None else host


def layer_inputs(layer: tiling.MappedLayer) -> list[SSAValue]:
    """The activations a mapped layer reads: its op's, then the residual of a fused
    addition."""
    inner = layer.inner
    values = activation_operands(inner)
    add = next((o for o in layer.body.block.ops if isinstance(o, tg.AddOp)), None)
    if add is not None and add is not inner:
        values.append(residual_of(add, inner))
    return values


def hwc(value: SSAValue) -> tuple[int, int, int]:
    """A value's shape as the array sees it, (H, W, C) (:func:`hwc_of_shape`): an NHWC
    image of a batch of one; rows of a matrix (tokens) as a row of W = N pixels; heads
    x tokens x features as H x W x C, windows x heads x tokens x features with H =
    windows x heads. Row-major layouts of all are the tensor's, so a reshape between
    them moves nothing."""
    return hwc_of_shape(tg.tensor_shape(value))


def constant_gate(op: Operation) -> bool:
    """A product or difference by a per-channel constant (a weight broadcast over the
    positions: ConvNeXt's layer scale): the array runs it as a depthwise 1x1 layer whose
    weights are the constant."""
    return isinstance(op, tg.GATED_OPS) and op.gated and isinstance(op.rhs.owner, tg.WeightOp)


IMAGE_OPS = (*tg.WEIGHTED_OPS, tg.LayerNormOp)
"""Ops whose weight and bias reach the cores as a weight image."""

PARAMETER_OPS = (*IMAGE_OPS, tg.BatchNormOp)
"""Ops whose first operand is their input and every other one a parameter (those of
:data:`IMAGE_OPS`, and a batch norm's per-channel ones)."""


def parameters(op: Operation) -> tuple[SSAValue | None, SSAValue | None]:
    """The weight and bias a layer's cores receive as its weight image: a convolution's,
    linear layer's or layer norm's, or a per-channel constant's (:func:`constant_gate`)."""
    if isinstance(op, IMAGE_OPS):
        return op.weight, op.bias
    if constant_gate(op):
        return op.rhs, None
    return None, None


def activation_operands(op: Operation) -> list[SSAValue]:
    """The operands ``op`` reads as activations: all but the weights its cores receive
    as parameters (:func:`parameters`; a batch norm's per-channel ones). A weight read
    as data (a table added to an activation) is an activation that lives in DDR from
    the start, as a graph input does."""
    if isinstance(op, PARAMETER_OPS) or constant_gate(op):
        return [op.operands[0]]  # the input: the parameters follow it
    return list(op.operands)


def gather_of(op: tg.TransposeOp | tg.SliceOp) -> Gather:
    """A transpose's or slice's :attr:`LayerShape.gather`."""
    source, target = tg.tensor_shape(op.input), tg.tensor_shape(op.output)
    if isinstance(op, tg.TransposeOp):
        return Gather(source, target, perm=tuple(op.axes))
    axis, start, _, step = op.bounds
    return Gather(source, target, slice=(axis, start, step))


def _hwc(value: SSAValue) -> tuple[tuple[int, int], int]:
    h, w, c = hwc(value)
    return (h, w), c


def layer_shape(op: Operation) -> LayerShape | None:
    """The mapping view of a tg op (None for views, fused activations and additions)."""
    if isinstance(op, (*VIEW_OPS, tg.WeightOp, tg.OutputOp)) or is_fused_activation(op) \
            or is_fused_add(op):
        return None
    out_hw, cout = _hwc(op.results[0])
    if isinstance(op, tg.WEIGHTED_OPS):
        in_hw, cin = _hwc(op.input)
        w_shape = tg.tensor_shape(op.weight)
        mask = None
        block = (8, 8)
        if op.sparsity is not None:
            block = op.sparsity.block_shape
            mask = BlockMask.of(op.sparsity.mask_array())
        residual = fused_add(op) is not None
        if isinstance(op, tg.Conv2dOp):
            return LayerShape("conv", in_hw, cin, out_hw, cout, kernel=w_shape[1:3],
                              stride=op.stride_hw, pad=op.pads, dilation=op.dilation_hw,
                              groups=op.group_count, has_bias=op.bias is not None,
                              block=block, block_mask=mask, residual=residual)
        return LayerShape("matmul", in_hw, cin, out_hw, cout, has_bias=op.bias is not None,
                          block=block, block_mask=mask, residual=residual)
    if isinstance(op, tg.MaxPool2dOp | tg.AvgPool2dOp):
        in_hw, cin = _hwc(op.input)
        kind = "maxpool" if isinstance(op, tg.MaxPool2dOp) else "avgpool"
        return LayerShape(kind, in_hw, cin, out_hw, cout, kernel=op.kernel_hw,
                          stride=op.stride_hw, pad=op.pads)
    if isinstance(op, tg.GlobalAvgPoolOp):
        in_hw, cin = _hwc(op.input)
        return LayerShape("gap", in_hw, cin, out_hw, cout, kernel=in_hw, stride=in_hw)
    if isinstance(op, tg.ConcatOp):
        # A concat is written in place: each producer writes its channel range. It
        # costs no transfer of its own; its buffer is what the allocator places.
        return None
    inputs = activation_operands(op)
    in_hw, cin = _hwc(inputs[0])
    if isinstance(op, tg.BatchMatmulOp):  # each core's tile: one head's rows by columns
        heads, _, depth = hwc(op.lhs)
        return LayerShape("eltwise", in_hw, cin, out_hw, cout, rhs_depth=depth,
                          other_input_bytes=heads * depth * cout, element_ops=depth)
    if isinstance(op, tg.TransposeOp | tg.SliceOp):  # a copy, gathered
        return LayerShape("eltwise", out_hw, cout, out_hw, cout, gather=gather_of(op),
                          source=hwc(op.input))
    if isinstance(op, tg.MOVE_CHANNEL_OPS):  # a copy of some channels, reordered
        return LayerShape("eltwise", in_hw, cin, out_hw, cout, channel_map=op.channel_map())
    if constant_gate(op):  # its constant: a depthwise 1x1's weights
        return LayerShape("conv", in_hw, cin, out_hw, cout, groups=cin)
    if isinstance(op, tg.LayerNormOp):  # its weight and bias: a depthwise 1x1's
        return LayerShape("conv", in_hw, cin, out_hw, cout, groups=cin, has_bias=True,
                          rowwise=True, element_ops=ROWWISE_OPS[tg.LayerNormOp])
    if type(op) in ROWWISE_OPS:
        return LayerShape("eltwise", in_hw, cin, out_hw, cout, rowwise=True,
                          element_ops=ROWWISE_OPS[type(op)])
    if isinstance(op, tg.GATED_OPS) and op.gated:  # the gate: one byte per channel
        return LayerShape("eltwise", in_hw, cin, out_hw, cout, other_input_bytes=cin,
                          gate=True)
    return LayerShape("eltwise", in_hw, cin, out_hw, cout, inputs=len(inputs))


def mapped_shape(layer: tiling.MappedLayer) -> LayerShape:
    """The geometry a mapped layer runs with: its op's, without the block sparsity when
    the mapper chose to run it with its zeros (``keeps_zeros``)."""
    shape = layer_shape(layer.inner)
    if shape is None:
        raise ValueError(f"'{layer.inner.name}' is not a layer the array computes")
    return replace(shape, block_mask=None) if layer.keeps_zeros is not None else shape
