"""A tg layer op seen by the mapper: its :class:`LayerShape`, or None for a view.

Views (flatten, reshape, quantize, dequantize) move no data on the array: the bytes in
the memtile are already laid out as the consumer reads them. ReLU, clip and the table
functions (sigmoid, hard sigmoid, hard swish, SiLU) are fused into the op that produces
their input when they are its only user.
"""

from __future__ import annotations

from dataclasses import replace

from xdsl.ir import Operation

from bsir.dialects import tg, tiling
from bsir.targets.aie2.geometry import LayerShape

VIEW_OPS = (tg.FlattenOp, tg.ReshapeOp, tg.QuantizeOp, tg.DequantizeOp)
ACTIVATION_OPS = (tg.ReluOp, tg.ClipOp, *tg.TABLE_OPS)
ELEMENTWISE_OPS = (tg.AddOp, *tg.GATED_OPS, tg.ReluOp, tg.ClipOp, *tg.TABLE_OPS, tg.BatchNormOp)
"""Layers whose output may be written in place over an input."""


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


def _hwc(value) -> tuple[tuple[int, int], int]:
    shape = tg.tensor_shape(value)
    if len(shape) == 4:
        return (shape[1], shape[2]), shape[3]
    if len(shape) == 2:
        return (1, 1), shape[1]
    return (1, 1), int(shape[-1])


def layer_shape(op: Operation) -> LayerShape | None:
    """The mapping view of a tg op (None for views and fused activations)."""
    if isinstance(op, (*VIEW_OPS, tg.WeightOp, tg.OutputOp)) or is_fused_activation(op):
        return None
    out_hw, cout = _hwc(op.results[0])
    if isinstance(op, tg.WEIGHTED_OPS):
        in_hw, cin = _hwc(op.input)
        w_shape = tg.tensor_shape(op.weight)
        nnz = None
        block = (8, 8)
        if op.sparsity is not None:
            block = op.sparsity.block_shape
            nnz = tuple(int(n) for n in op.sparsity.mask_array().sum(axis=1))
        if isinstance(op, tg.Conv2dOp):
            return LayerShape("conv", in_hw, cin, out_hw, cout, kernel=w_shape[1:3],
                              stride=op.stride_hw, pad=op.pads, dilation=op.dilation_hw,
                              groups=op.group_count, has_bias=op.bias is not None,
                              block=block, block_row_nnz=nnz)
        return LayerShape("matmul", in_hw, cin, out_hw, cout, has_bias=op.bias is not None,
                          block=block, block_row_nnz=nnz)
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
    inputs = [v for v in op.operands if not isinstance(v.owner, tg.WeightOp)]
    in_hw, cin = _hwc(inputs[0])
    if isinstance(op, tg.MOVE_CHANNEL_OPS):  # a copy of some channels, reordered
        return LayerShape("eltwise", in_hw, cin, out_hw, cout, channel_map=op.channel_map())
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
    return replace(shape, block_row_nnz=None) if layer.keeps_zeros is not None else shape
