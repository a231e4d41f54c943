"""Shape rules of the tg layers, as plain functions.

The op verifiers, the model builders and the ONNX importer all infer shapes through
these functions, so the three cannot disagree. Tensors are NHWC; convolution weights
are COUT x KH x KW x CIN/groups; pads are ``(top, left, bottom, right)``.
Every function raises :class:`ShapeError` with a readable reason on bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from xdsl.utils.exceptions import VerifyException

Shape = tuple[int, ...]


class ShapeError(VerifyException):
    """A layer's shapes or parameters are inconsistent."""


def _check_pairs(name: str, values: Sequence[int], length: int, minimum: int) -> None:
    if len(values) != length:
        raise ShapeError(f"{name} must have {length} values, got {len(values)}")
    if any(v < minimum for v in values):
        raise ShapeError(f"{name} values must be >= {minimum}, got {list(values)}")


def _window_extent(size: int, pad_lo: int, pad_hi: int, window: int, stride: int,
                   ceil_mode: bool) -> int:
    span = size + pad_lo + pad_hi - window
    if span < 0:
        raise ShapeError(
            f"window {window} is larger than the padded input {size + pad_lo + pad_hi}"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # The last window must start inside the input or its leading padding.
    if (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def conv2d_output_shape(
    input_shape: Shape,
    weight_shape: Shape,
    stride: Sequence[int] = (1, 1),
    pad: Sequence[int] = (0, 0, 0, 0),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
) -> Shape:
    """Output NHWC shape of a 2-D convolution."""
    if len(input_shape) != 4:
        raise ShapeError(f"conv2d input must be NHWC (rank 4), got rank {len(input_shape)}")
    if len(weight_shape) != 4:
        raise ShapeError(
            f"conv2d weight must be COUTxKHxKWxCIN (rank 4), got rank {len(weight_shape)}"
        )
    _check_pairs("stride", stride, 2, 1)
    _check_pairs("dilation", dilation, 2, 1)
    _check_pairs("pad", pad, 4, 0)
    n, h, w, c = input_shape
    cout, kh, kw, cin_g = weight_shape
    if groups < 1:
        raise ShapeError(f"groups must be >= 1, got {groups}")
    if c % groups or cout % groups:
        raise ShapeError(
            f"groups {groups} must divide input channels {c} and output channels {cout}"
        )
    if cin_g != c // groups:
        raise ShapeError(
            f"weight has {cin_g} input channels but the input has {c} channels "
            f"in {groups} group(s) ({c // groups} per group)"
        )
    top, left, bottom, right = pad
    ekh = dilation[0] * (kh - 1) + 1
    ekw = dilation[1] * (kw - 1) + 1
    oh = _window_extent(h, top, bottom, ekh, stride[0], False)
    ow = _window_extent(w, left, right, ekw, stride[1], False)
    return (n, oh, ow, cout)


def pool2d_output_shape(
    input_shape: Shape,
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int] = (0, 0, 0, 0),
    ceil_mode: bool = False,
) -> Shape:
    """Output NHWC shape of a max or average pooling window."""
    if len(input_shape) != 4:
        raise ShapeError(f"pool input must be NHWC (rank 4), got rank {len(input_shape)}")
    _check_pairs("kernel", kernel, 2, 1)
    _check_pairs("stride", stride, 2, 1)
    _check_pairs("pad", pad, 4, 0)
    top, left, bottom, right = pad
    if max(top, bottom) > kernel[0] // 2 or max(left, right) > kernel[1] // 2:
        raise ShapeError(
            f"pad {list(pad)} must be at most half of the kernel {list(kernel)}"
        )
    n, h, w, c = input_shape
    oh = _window_extent(h, top, bottom, kernel[0], stride[0], ceil_mode)
    ow = _window_extent(w, left, right, kernel[1], stride[1], ceil_mode)
    return (n, oh, ow, c)


def matmul_output_shape(input_shape: Shape, weight_shape: Shape) -> Shape:
    """Output shape of ``x @ W^T`` with x N x K and W COUT x K (a linear layer)."""
    if len(input_shape) != 2:
        raise ShapeError(f"matmul input must be NxK (rank 2), got rank {len(input_shape)}")
    if len(weight_shape) != 2:
        raise ShapeError(
            f"matmul weight must be COUTxCIN (rank 2), got rank {len(weight_shape)}"
        )
    if input_shape[1] != weight_shape[1]:
        raise ShapeError(
            f"matmul input has {input_shape[1]} features but the weight expects "
            f"{weight_shape[1]}"
        )
    return (input_shape[0], weight_shape[0])


def concat_output_shape(input_shapes: Sequence[Shape], axis: int) -> Shape:
    """Shape of the concatenation of ``input_shapes`` along ``axis``."""
    if not input_shapes:
        raise ShapeError("concat needs at least one input")
    rank = len(input_shapes[0])
    if not 0 <= axis < rank:
        raise ShapeError(f"concat axis {axis} is out of range for rank {rank}")
    for i, shape in enumerate(input_shapes):
        if len(shape) != rank:
            raise ShapeError(f"concat input {i} has rank {len(shape)}, expected {rank}")
        for d in range(rank):
            if d != axis and shape[d] != input_shapes[0][d]:
                raise ShapeError(
                    f"concat input {i} has shape {list(shape)}, which differs from "
                    f"{list(input_shapes[0])} outside axis {axis}"
                )
    out = list(input_shapes[0])
    out[axis] = sum(s[axis] for s in input_shapes)
    return tuple(out)


def flatten_output_shape(input_shape: Shape) -> Shape:
    """``N x ...`` to ``N x prod(...)``."""
    if len(input_shape) < 1:
        raise ShapeError("flatten needs a tensor of rank >= 1")
    return (input_shape[0], prod(input_shape[1:]))


def blocks_grid(cout: int, cin: int, block: Sequence[int]) -> tuple[int, int]:
    """Number of (COUT, CIN) blocks covering a weight; edge blocks may be partial."""
    bo, bi = block
    return (-(-cout // bo), -(-cin // bi))


def conv2d_macs(output_shape: Shape, weight_shape: Shape) -> int:
    """Multiply-accumulates of a (grouped) convolution producing ``output_shape``."""
    _, kh, kw, cin_g = weight_shape
    return prod(output_shape) * kh * kw * cin_g


def matmul_macs(output_shape: Shape, weight_shape: Shape) -> int:
    """Multiply-accumulates of a linear layer."""
    return prod(output_shape) * weight_shape[1]


def transpose_output_shape(input_shape: Shape, perm: Sequence[int]) -> Shape:
    """Shape of ``input_shape`` with its axes permuted: output axis i is input axis
    ``perm[i]``."""
    if sorted(perm) != list(range(len(input_shape))):
        raise ShapeError(f"perm {list(perm)} is not a permutation of the "
                         f"{len(input_shape)} axes of {list(input_shape)}")
    return tuple(input_shape[axis] for axis in perm)


def slice_output_shape(input_shape: Shape, axis: int, start: int, stop: int,
                       step: int = 1) -> Shape:
    """Shape of every ``step``-th element of [start, stop) along ``axis``."""
    if not 0 <= axis < len(input_shape):
        raise ShapeError(f"slice axis {axis} is out of range for rank {len(input_shape)}")
    if not 0 <= start < stop <= input_shape[axis]:
        raise ShapeError(f"slice [{start}, {stop}) is not within the {input_shape[axis]} "
                         f"elements of axis {axis}")
    if step < 1:
        raise ShapeError(f"slice step must be at least 1, got {step}")
    out = list(input_shape)
    out[axis] = -(-(stop - start) // step)
    return tuple(out)


def batch_matmul_output_shape(lhs: Shape, rhs: Shape) -> Shape:
    """Shape of the product of two activations, ``... x M x K`` times ``... x K x N``
    (the leading axes equal: a batch of products, e.g. one per attention head)."""
    if len(lhs) < 2 or len(lhs) != len(rhs):
        raise ShapeError(f"batch_matmul operands must be of one rank >= 2, got "
                         f"{list(lhs)} and {list(rhs)}")
    if lhs[:-2] != rhs[:-2]:
        raise ShapeError(f"batch_matmul operands differ in their batch axes: {list(lhs)} "
                         f"and {list(rhs)}")
    if lhs[-1] != rhs[-2]:
        raise ShapeError(f"batch_matmul contracts {lhs[-1]} with {rhs[-2]}: {list(lhs)} "
                         f"and {list(rhs)}")
    return (*lhs[:-1], rhs[-1])


def batch_matmul_macs(lhs: Shape, rhs: Shape) -> int:
    """Multiply-accumulates of a product of two activations."""
    return prod(lhs) * rhs[-1]
