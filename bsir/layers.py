"""numpy implementations of the tg layers: float32, and exact int8 arithmetic.

These are the reference semantics every lowering is checked against, so they favour
being obviously right: convolution is im2col + one BLAS matrix product per group;
int8 products are summed exactly in float64 (|sum| < 2**53 for any realistic layer)
and converted to int64; rounding and saturation come from :mod:`bsir.quant`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from bsir import quant


def _pad_nhwc(x: np.ndarray, pad: Sequence[int], value: float | int = 0) -> np.ndarray:
    top, left, bottom, right = pad
    if not any(pad):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], out_hw: Sequence[int]) -> np.ndarray:
    """A read-only N x OH x OW x KH x KW x C view of the windows of a padded NHWC tensor."""
    n, _, _, c = x.shape
    sn, sh, sw, sc = x.strides
    return as_strided(
        x,
        shape=(n, out_hw[0], out_hw[1], kernel[0], kernel[1], c),
        strides=(sn, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False,
    )


def _out_hw(size_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int]) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        (size - (dilation[i] * (kernel[i] - 1) + 1)) // stride[i] + 1
        for i, size in enumerate(size_hw)
    )


def conv2d_accumulate(x: np.ndarray, w: np.ndarray, stride: Sequence[int] = (1, 1),
                      pad: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1),
                      groups: int = 1, dtype: type = np.float32) -> np.ndarray:
    """sum over the window and input channels of x * w, in ``dtype`` (no bias).

    x is N x H x W x C, w is COUT x KH x KW x C/groups; returns N x OH x OW x COUT.
    """
    xp = _pad_nhwc(x, pad).astype(dtype, copy=False)
    cout, kh, kw, cin_g = w.shape
    n = x.shape[0]
    oh, ow = _out_hw(xp.shape[1:3], (kh, kw), stride, dilation)
    wd = w.astype(dtype, copy=False)
    cout_g = cout // groups
    out = np.empty((n, oh, ow, cout), dtype=dtype)
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and groups == 1:
        out[...] = (xp.reshape(-1, cin_g) @ wd.reshape(cout, cin_g).T).reshape(n, oh, ow, cout)
        return out
    windows = _windows(xp, (kh, kw), stride, dilation, (oh, ow))
    for g in range(groups):
        patches = windows[..., g * cin_g:(g + 1) * cin_g].reshape(n * oh * ow, kh * kw * cin_g)
        w_g = wd[g * cout_g:(g + 1) * cout_g].reshape(cout_g, kh * kw * cin_g)
        out[..., g * cout_g:(g + 1) * cout_g] = (patches @ w_g.T).reshape(n, oh, ow, cout_g)
    return out


def conv2d_block_sparse(x: np.ndarray, packed, stride: Sequence[int] = (1, 1),
                        pad: Sequence[int] = (0, 0, 0, 0),
                        dilation: Sequence[int] = (1, 1)) -> np.ndarray:
    """The sums of :func:`conv2d_accumulate` (groups = 1) multiplying only the blocks a
    packed weight (:class:`bsir.compaction.BlockSparseWeight`) stores, with
    :mod:`bsir.kernels`: float32 in, float32 out; int8 in, exact int64 out.

    The windows are laid out as the kernel reads them: block column, tap, channel of
    the block, with zero channels past CIN."""
    from bsir.kernels import bsr_matmul_ordered

    xp = _pad_nhwc(x, pad)
    cout, kh, kw, cin = packed.shape
    n = x.shape[0]
    oh, ow = _out_hw(xp.shape[1:3], (kh, kw), stride, dilation)
    bi, cols = packed.block[1], packed.grid[1]
    windows = _windows(xp, (kh, kw), stride, dilation, (oh, ow)).reshape(-1, kh * kw, cin)
    if cols * bi != cin:
        padded = np.zeros((windows.shape[0], kh * kw, cols * bi), dtype=x.dtype)
        padded[..., :cin] = windows
        windows = padded
    operand = windows.reshape(-1, kh * kw, cols, bi).transpose(2, 1, 3, 0)
    y = bsr_matmul_ordered(packed, operand.reshape(cols * kh * kw * bi, -1))
    y = y.T.reshape(n, oh, ow, cout)
    return y.astype(np.int64) if y.dtype == np.int32 else y


def conv2d_float(x, w, b, stride, pad, dilation, groups) -> np.ndarray:
    """float32 convolution with optional bias."""
    y = conv2d_accumulate(x, w, stride, pad, dilation, groups, np.float32)
    return y + b if b is not None else y


def int_accumulate(x: np.ndarray, w: np.ndarray, product) -> np.ndarray:
    """Exact integer sum of products: computed in float64, returned as int64."""
    acc = product(x.astype(np.float64), w.astype(np.float64))
    return np.rint(acc).astype(np.int64)


def align_bias(bias: np.ndarray | None, bias_fix: int | None, acc_fix: int) -> np.ndarray | int:
    """The int32 bias at the accumulator's fix position (shifted, rounded half up)."""
    if bias is None:
        return 0
    return quant.round_shift(bias.astype(np.int64), int(bias_fix) - acc_fix)


def conv2d_int8(x, w, b, stride, pad, dilation, groups, in_fix: int, w_fix: int,
                b_fix: int | None, out_fix: int) -> np.ndarray:
    """int8 convolution: exact int64 accumulation, bias aligned, requantized to int8."""
    acc = int_accumulate(x, w, lambda xf, wf: conv2d_accumulate(
        xf, wf, stride, pad, dilation, groups, np.float64))
    acc_fix = in_fix + w_fix
    return quant.requantize(acc + align_bias(b, b_fix, acc_fix), acc_fix, out_fix)


def matmul_float(x, w, b) -> np.ndarray:
    y = x.astype(np.float32) @ w.astype(np.float32).T
    return y + b if b is not None else y


def matmul_int8(x, w, b, in_fix: int, w_fix: int, b_fix: int | None,
                out_fix: int) -> np.ndarray:
    acc = int_accumulate(x, w, lambda xf, wf: xf @ wf.T)
    acc_fix = in_fix + w_fix
    return quant.requantize(acc + align_bias(b, b_fix, acc_fix), acc_fix, out_fix)


def maxpool(x: np.ndarray, kernel, stride, pad, out_hw) -> np.ndarray:
    """Max over windows; padding never wins (and a ceil-mode window past the end is
    padded the same way)."""
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    xp = _extend_for_output(_pad_nhwc(x, pad, low), kernel, stride, out_hw, low)
    return _windows(xp, kernel, stride, (1, 1), out_hw).max(axis=(3, 4))


def _extend_for_output(xp: np.ndarray, kernel, stride, out_hw, value) -> np.ndarray:
    """Pad bottom/right so that ceil-mode windows lie inside the array."""
    need_h = (out_hw[0] - 1) * stride[0] + kernel[0] - xp.shape[1]
    need_w = (out_hw[1] - 1) * stride[1] + kernel[1] - xp.shape[2]
    if need_h <= 0 and need_w <= 0:
        return xp
    return np.pad(xp, ((0, 0), (0, max(need_h, 0)), (0, max(need_w, 0)), (0, 0)),
                  constant_values=value)


def avgpool_sums(x: np.ndarray, kernel, stride, pad, out_hw, count_include_pad: bool,
                 dtype) -> tuple[np.ndarray, np.ndarray]:
    """Window sums and the divisor of each output position.

    With ``count_include_pad`` the divisor counts the explicit padding (not the extra
    ceil-mode overhang), as PyTorch and ONNX do; without it, only input elements.
    """
    xp = _extend_for_output(_pad_nhwc(x.astype(dtype), pad), kernel, stride, out_hw, 0)
    sums = _windows(xp, kernel, stride, (1, 1), out_hw).sum(axis=(3, 4))
    h, w = x.shape[1:3]
    ones = np.zeros((1, *xp.shape[1:3], 1), dtype=np.int64)
    top, left, bottom, right = pad
    if count_include_pad:
        ones[:, : h + top + bottom, : w + left + right] = 1
    else:
        ones[:, top: top + h, left: left + w] = 1
    counts = _windows(ones, kernel, stride, (1, 1), out_hw).sum(axis=(3, 4))
    return sums, counts


def avgpool_float(x, kernel, stride, pad, out_hw, count_include_pad) -> np.ndarray:
    sums, counts = avgpool_sums(x, kernel, stride, pad, out_hw, count_include_pad, np.float64)
    return (sums / counts).astype(np.float32)


def avgpool_int8(x, kernel, stride, pad, out_hw, count_include_pad, in_fix, out_fix):
    sums, counts = avgpool_sums(x, kernel, stride, pad, out_hw, count_include_pad, np.int64)
    return average_int8(sums, counts, in_fix, out_fix)


def average_int8(sums: np.ndarray, counts, in_fix: int, out_fix: int) -> np.ndarray:
    """sums / counts moved from ``in_fix`` to ``out_fix``, rounded half up, saturated."""
    shift = in_fix - out_fix
    if shift >= 0:
        return quant.saturate_int8(quant.round_divide(sums, np.asarray(counts) << shift))
    return quant.saturate_int8(quant.round_divide(sums << -shift, counts))


def global_avgpool_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64).mean(axis=(1, 2), keepdims=True).astype(np.float32)


def global_avgpool_int8(x: np.ndarray, in_fix: int, out_fix: int) -> np.ndarray:
    sums = x.astype(np.int64).sum(axis=(1, 2), keepdims=True)
    return average_int8(sums, x.shape[1] * x.shape[2], in_fix, out_fix)


def add_int8(a: np.ndarray, b: np.ndarray, a_fix: int, b_fix: int, out_fix: int) -> np.ndarray:
    """a + b at the finer of the two fix positions, then requantized."""
    common = max(a_fix, b_fix)
    acc = quant.round_shift(a, a_fix - common) + quant.round_shift(b, b_fix - common)
    return quant.requantize(acc, common, out_fix)


def sub_int8(a: np.ndarray, b: np.ndarray, a_fix: int, b_fix: int, out_fix: int) -> np.ndarray:
    """a - b (broadcast) at the finer of the two fix positions, then requantized."""
    return add_int8(a.astype(np.int64), -b.astype(np.int64), a_fix, b_fix, out_fix)


def mul_int8(a: np.ndarray, b: np.ndarray, a_fix: int, b_fix: int, out_fix: int) -> np.ndarray:
    """a * b (broadcast), exact in int32 at fix a_fix + b_fix, then requantized."""
    product = a.astype(np.int64) * b.astype(np.int64)
    return quant.requantize(product, a_fix + b_fix, out_fix)


def batch_norm_float(x, scale, shift, mean, var, eps) -> np.ndarray:
    inv = scale / np.sqrt(var.astype(np.float64) + eps)
    return ((x - mean) * inv + shift).astype(np.float32)


def softmax_float(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, in float64 from the row's maximum (no overflow)."""
    shifted = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def layer_norm_float(x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                     eps: float) -> np.ndarray:
    """Layer norm over the last axis: mean and (biased) variance per token, in float64."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x64 - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)


def batch_matmul_int8(a: np.ndarray, b: np.ndarray, a_fix: int, b_fix: int,
                      out_fix: int) -> np.ndarray:
    """The product of two int8 activations (``... x M x K`` by ``... x K x N``): exact
    int32 sums at fix ``a_fix + b_fix``, requantized."""
    acc = int_accumulate(a, b, np.matmul)
    return quant.requantize(acc, a_fix + b_fix, out_fix)


SOFTMAX_EXP_BITS = 15
"""Fraction bits of the exponential table: e^0 = 2^15."""

SOFTMAX_RECIPROCAL_BITS = 45
"""Fraction bits of a row's reciprocal 2^45 / sum (at most 2^30: the sum is >= 2^15)."""

SOFTMAX_MAX_ROW = 2**31 // 2**SOFTMAX_EXP_BITS
"""The longest row whose sum of exponentials fits int32."""


def softmax_exp_table(in_fix: int) -> np.ndarray:
    """The 256 entries ``round(e^(d * 2^-in_fix) * 2^15)`` for d = -255 .. 0 (entry
    ``d + 255``): e to the power of an int8 difference from the row's maximum."""
    d = np.arange(-255, 1, dtype=np.float64)
    return np.floor(np.exp(d * 2.0**-in_fix) * 2.0**SOFTMAX_EXP_BITS + 0.5).astype(np.int64)


def softmax_int8(x: np.ndarray, in_fix: int, out_fix: int) -> np.ndarray:
    """Softmax along the last axis in integers: each element's difference from its row's
    maximum (0 .. -255) looks up e^d (:func:`softmax_exp_table`), the row sums them in
    int32, one reciprocal per row ``round(2^45 / sum)`` scales every entry (a 16 x 32-bit
    product), and the result at fix 45 is requantized to ``out_fix``."""
    q = x.astype(np.int64)
    e = softmax_exp_table(in_fix)[q - q.max(axis=-1, keepdims=True) + 255]
    reciprocal = quant.round_divide(1 << SOFTMAX_RECIPROCAL_BITS, e.sum(axis=-1, keepdims=True))
    return quant.requantize(e * reciprocal, SOFTMAX_RECIPROCAL_BITS, out_fix)


LAYER_NORM_BITS = 32
"""Fraction bits of a token's inverse standard deviation in the integer layer norm."""

LAYER_NORM_MAX_FEATURES = 2**15
"""The most features a token may have: its sum of squares, at most 255^2 n^3, fits int64."""

LAYER_NORM_MAX_BIAS = 2**61
"""The largest layer norm bias at the accumulator's fix position: with the normalized
product (at most sqrt(n) 2^39 < 2^47) it stays within int64."""


def layer_norm_epsilon(eps: float, features: int, in_fix: int) -> int:
    """``eps`` in the units of the integer layer norm's sum of squares:
    ``round(eps * n^3 * 4^in_fix)`` (see :func:`layer_norm_int8`)."""
    return int(np.floor(eps * float(features) ** 3 * 4.0**in_fix + 0.5))


def layer_norm_int8(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float,
                    in_fix: int, w_fix: int, b_fix: int, out_fix: int) -> np.ndarray:
    """Layer norm over the last axis of int8 tokens, exactly in integers.

    With n features, ``c = n q - sum(q)`` is n times each value's distance from the
    token's mean (int32), so ``(x - mean) / sqrt(var + eps) = c / sqrt(t / n)`` with
    ``t = sum(c^2) + round(eps n^3 4^in_fix)`` (int64). One integer inverse square root
    per token, ``r = isqrt(n 2^64 // t)`` (= floor(2^32 / sqrt(t / n))), scales each
    ``c``; times the int8 weight that is the result at fix ``32 + w_fix``, where the int32
    bias is added (shifted from ``b_fix``) before the requantization to ``out_fix``.
    ``|c r| <= sqrt(n) 2^32``, so every product fits int64; the shifted bias must be
    within ``LAYER_NORM_MAX_BIAS`` (OverflowError otherwise; tg-quantize keeps it so).
    """
    q = x.astype(np.int64)
    n = q.shape[-1]
    c = n * q - q.sum(axis=-1, keepdims=True)
    t = (c * c).sum(axis=-1) + layer_norm_epsilon(eps, n, in_fix)
    scaled = n << (2 * LAYER_NORM_BITS)
    inverse = np.array([math.isqrt(scaled // max(int(v), 1)) for v in t.ravel()],
                       dtype=np.int64).reshape((*t.shape, 1))
    acc_fix = LAYER_NORM_BITS + w_fix
    shift = acc_fix - b_fix
    if shift > 0 and bias.size and \
            int(np.abs(bias.astype(np.int64)).max()) > LAYER_NORM_MAX_BIAS >> shift:
        raise OverflowError(f"a layer norm bias at fix {b_fix} does not fit int64 at the "
                            f"accumulator's fix {acc_fix}")
    acc = c * inverse * weight.astype(np.int64) + align_bias(bias, b_fix, acc_fix)
    return quant.requantize(acc, acc_fix, out_fix)
