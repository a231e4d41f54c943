"""What COMP computes on one core's subvolume, in the arithmetic of :mod:`bsir.layers`.

The core holds the valid part of its input window (rows and columns inside the input);
the kernel pads it (zeros, or -128 for max pooling), accumulates products in int32
(an accumulator outside int32 is an error, where the reference would silently use
int64), adds the bias and requantizes exactly as the reference executor does, then
applies the layer's fused activation and, for an input of a concatenation, the move to
the concatenation's fix position.
"""

from __future__ import annotations

import numpy as np

from bsir import layers, quant
from bsir.targets.aie2.geometry import LayerShape, window
from bsir.targets.aie2.schedule import Chunk


class AccumulatorOverflow(Exception):
    """An int32 accumulator overflowed."""


def window_extent(geometry: LayerShape, chunk: Chunk) -> tuple[int, int]:
    """Rows and columns of the padded input window of a chunk."""
    kh, kw = geometry.kernel
    return (window(chunk.h1 - chunk.h0, kh, geometry.stride[0], geometry.dilation[0]),
            window(chunk.w1 - chunk.w0, kw, geometry.stride[1], geometry.dilation[1]))


def padded(valid: np.ndarray, geometry: LayerShape, chunk: Chunk, fill: int) -> np.ndarray:
    """The full window (H', W', C) with ``valid`` in place and ``fill`` around it."""
    rows, cols = window_extent(geometry, chunk)
    _, _, top = geometry.input_span(0, chunk.h0, chunk.h1)
    _, _, left = geometry.input_span(1, chunk.w0, chunk.w1)
    out = np.full((rows, cols, valid.shape[2]), fill, dtype=valid.dtype)
    out[top:top + valid.shape[0], left:left + valid.shape[1]] = valid
    return out


def _counted(geometry: LayerShape, chunk: Chunk, include_pad: bool) -> np.ndarray:
    """1 where a window position counts towards an average's divisor."""
    rows, cols = window_extent(geometry, chunk)
    h, w, _ = geometry.in_hwc
    top, left, bottom, right = geometry.pad
    r = chunk.h0 * geometry.stride[0] - top + np.arange(rows)
    c = chunk.w0 * geometry.stride[1] - left + np.arange(cols)
    if include_pad:
        ok_r, ok_c = (r >= -top) & (r < h + bottom), (c >= -left) & (c < w + right)
    else:
        ok_r, ok_c = (r >= 0) & (r < h), (c >= 0) & (c < w)
    return (ok_r[:, None] & ok_c[None, :]).astype(np.int64)[None, :, :, None]


def check_int32(values: np.ndarray) -> np.ndarray:
    if values.size and (values.max() > quant.INT32_MAX or values.min() < quant.INT32_MIN):
        raise AccumulatorOverflow(
            f"an int32 accumulator overflows (range {int(values.min())}..{int(values.max())})")
    return values


def accumulate(geometry: LayerShape, chunk: Chunk, valid: np.ndarray, weights: np.ndarray
               ) -> np.ndarray:
    """int32 sums of products of one input-channel chunk: [h, w, c1 - c0]."""
    x = padded(valid, geometry, chunk, 0)[None]
    out_hw = (chunk.h1 - chunk.h0, chunk.w1 - chunk.w0)
    if geometry.groups == 1:
        acc = layers.int_accumulate(x, weights, lambda xf, wf: layers.conv2d_accumulate(
            xf, wf, geometry.stride, (0, 0, 0, 0), geometry.dilation, 1, np.float64))
        return check_int32(acc[0, :out_hw[0], :out_hw[1]])
    per = geometry.out_hwc[2] // geometry.groups
    cin = geometry.cin_per_group
    first_group = chunk.c0 // per
    acc = np.zeros((*out_hw, chunk.c1 - chunk.c0), dtype=np.int64)
    start = chunk.c0
    while start < chunk.c1:
        group = start // per
        stop = min((group + 1) * per, chunk.c1)
        xs = x[..., (group - first_group) * cin:(group - first_group + 1) * cin]
        ws = weights[start - chunk.c0:stop - chunk.c0]
        part = layers.int_accumulate(xs, ws, lambda xf, wf: layers.conv2d_accumulate(
            xf, wf, geometry.stride, (0, 0, 0, 0), geometry.dilation, 1, np.float64))
        acc[..., start - chunk.c0:stop - chunk.c0] = part[0, :out_hw[0], :out_hw[1]]
        start = stop
    return check_int32(acc)


def finish_weighted(acc: np.ndarray, bias: np.ndarray | None, op) -> np.ndarray:
    """Bias, then requantization to the op's output fix (as layers.conv2d_int8)."""
    q = op.quant
    acc_fix = q.input_positions[0] + q.weight_position
    total = acc + layers.align_bias(bias, q.bias_position, acc_fix)
    return quant.requantize(check_int32(total), acc_fix, q.output_position)


def pool(geometry: LayerShape, chunk: Chunk, valid: np.ndarray, op) -> np.ndarray:
    """Max, average or global average pooling of one chunk."""
    q = op.quant
    out_hw = (chunk.h1 - chunk.h0, chunk.w1 - chunk.w0)
    if geometry.kind == "maxpool":
        x = padded(valid, geometry, chunk, quant.INT8_MIN)[None]
        y = layers.maxpool(x, geometry.kernel, geometry.stride, (0, 0, 0, 0), out_hw)[0]
        if q is not None and q.input_positions[0] != q.output_position:
            y = quant.requantize(y.astype(np.int64), q.input_positions[0], q.output_position)
        return y
    if geometry.kind == "gap":
        return layers.global_avgpool_int8(valid[None], q.input_positions[0],
                                          q.output_position)[0]
    x = padded(valid.astype(np.int64), geometry, chunk, 0)[None]
    sums, _ = layers.avgpool_sums(x, geometry.kernel, geometry.stride, (0, 0, 0, 0), out_hw,
                                  True, np.int64)
    counts, _ = layers.avgpool_sums(_counted(geometry, chunk, op.includes_pad),
                                    geometry.kernel, geometry.stride, (0, 0, 0, 0), out_hw,
                                    True, np.int64)
    return layers.average_int8(sums, counts, q.input_positions[0], q.output_position)[0]
