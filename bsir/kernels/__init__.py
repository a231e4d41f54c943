"""Block-sparse x dense matrix products on the CPU, straight from the compaction format.

``bsr_matmul(weight, x)`` computes ``W @ x`` where ``W`` is a packed weight
(:class:`bsir.compaction.BlockSparseWeight`) seen as a ``COUT x (KH*KW*CIN)`` matrix
(rows ``[cout, kh, kw, cin]`` flattened, the im2col order) and ``x`` is dense
``(KH*KW*CIN) x N``: float32 gives float32; int8 weights and activations give exact int32
sums. Only the stored blocks are multiplied.

The work is done by a native library (``_bsr.c``, built with the package: AVX2 + FMA
micro-kernels chosen at run time, OpenMP threads) called through ctypes; when it is not
built, or ``BSIR_KERNELS=numpy``, a numpy implementation (one BLAS product per block
row) gives the same results.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import cache

import numpy as np

from bsir.compaction import BlockSparseWeight

INT32_SAFE_TERMS = (2**31 - 1) // (128 * 128)  # int8 products an int32 sum always holds


@cache
def _library() -> ctypes.CDLL | None:
    """The native kernels, or None (not built, or BSIR_KERNELS=numpy)."""
    if os.environ.get("BSIR_KERNELS", "native") == "numpy":
        return None
    spec = importlib.util.find_spec("bsir.kernels._bsr")
    if spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError:
        return None
    i64, i32, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    for name in ("bsr_sgemm", "bsr_i8gemm"):
        function = getattr(lib, name)
        function.argtypes = [i64, i32, i32, ptr, ptr, ptr, i64, i64, ptr, i64, ptr, i64, i32]
        function.restype = i32
    lib.bsr_simd.restype = i32
    return lib


def backend() -> str:
    """``native-avx2``, ``native`` (plain C loops) or ``numpy``."""
    lib = _library()
    if lib is None:
        return "numpy"
    return "native-avx2" if lib.bsr_simd() else "native"


FLOAT_BREAK_EVEN = 0.0   # fp32: slower end to end on ResNet50 even at 10 % (the relayout)
INT8_BREAK_EVEN = 0.5    # int8: against the float64 BLAS that exact int8 needs otherwise
SMALLEST_PRODUCT = 1 << 22  # useful multiply-adds below which call overhead dominates


def worth_it(density: float, integer: bool, useful_macs: float) -> bool:
    """Whether the native kernel beats a dense product (thresholds measured with
    ``benchmarks/block_sparse_kernels.py`` and ``benchmarks/executor.py --sparsity``)."""
    if _library() is None or useful_macs < SMALLEST_PRODUCT:
        return False
    return density <= (INT8_BREAK_EVEN if integer else FLOAT_BREAK_EVEN) and density > 0


def kernel_rows(weight: BlockSparseWeight) -> np.ndarray:
    """For each row of the kernel's operand (block column c, tap k, channel i of the
    block), the im2col row it reads (``k * CIN + c * b_in + i``), or -1 past CIN."""
    _, bi = weight.block
    cin = weight.shape[-1]
    taps = int(np.prod(weight.shape[1:-1])) if len(weight.shape) == 4 else 1
    cols = weight.grid[1]
    c = np.arange(cols)[:, None, None]
    k = np.arange(taps)[None, :, None]
    i = np.arange(bi)[None, None, :]
    channel = c * bi + i
    return np.where(channel < cin, k * cin + channel, -1).reshape(-1)


def gather_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` with zero rows where ``rows`` is -1 (contiguous; ``x`` itself when
    ``rows`` is every row in order, as for a matrix whose width is whole blocks)."""
    if rows.size == x.shape[0] and np.array_equal(rows, np.arange(rows.size)):
        return np.ascontiguousarray(x)
    out = np.zeros((rows.size, x.shape[1]), dtype=x.dtype)
    valid = rows >= 0
    out[valid] = x[rows[valid]]
    return out


def bsr_matmul(weight: BlockSparseWeight, x: np.ndarray, threads: int = 0,
               rows: np.ndarray | None = None) -> np.ndarray:
    """``W @ x`` for packed ``W`` (COUT x KH*KW*CIN) and dense ``x`` (KH*KW*CIN x N).

    float32 operands give float32; int8 operands give int32 (exact). ``threads`` 0 uses
    every core; ``rows`` is :func:`kernel_rows` of the weight when the caller keeps it."""
    taps = int(np.prod(weight.shape[1:-1])) if len(weight.shape) == 4 else 1
    k_total = taps * weight.shape[-1]
    if x.ndim != 2 or x.shape[0] != k_total:
        raise ValueError(f"x must be {k_total} x N for a {'x'.join(map(str, weight.shape))} "
                         f"weight, got {'x'.join(map(str, x.shape))}")
    integer = weight.blocks.dtype == np.int8
    if integer != (x.dtype == np.int8) or (not integer and x.dtype != np.float32):
        raise ValueError("operands must both be float32 or both int8, got "
                         f"{weight.blocks.dtype} and {x.dtype}")
    if integer and k_total > INT32_SAFE_TERMS:
        raise ValueError(f"{k_total} int8 products per output may overflow int32")
    return bsr_matmul_ordered(weight, gather_rows(x, kernel_rows(weight) if rows is None
                                                  else rows), threads)


def bsr_matmul_ordered(weight: BlockSparseWeight, operand: np.ndarray,
                       threads: int = 0) -> np.ndarray:
    """``W @ x`` with ``x`` already in the kernel's row order (:func:`kernel_rows`, zero
    rows past CIN): ``grid[1] * KH*KW * b_in`` rows, contiguous. Returns COUT rows."""
    integer = weight.blocks.dtype == np.int8
    bo, bi = weight.block
    block_rows, block_cols = weight.grid
    width = bi * (int(np.prod(weight.shape[1:-1])) if len(weight.shape) == 4 else 1)
    if operand.ndim != 2 or operand.shape[0] != block_cols * width:
        raise ValueError(f"the operand must have {block_cols * width} rows in the kernel's "
                         f"order, got {operand.shape[0]}")
    operand = np.ascontiguousarray(operand)
    blocks = np.ascontiguousarray(weight.blocks.reshape(-1, bo, width))
    row_ptr = np.ascontiguousarray(weight.row_ptr, dtype=np.int64)
    col_idx = np.ascontiguousarray(weight.col_idx, dtype=np.int64)
    n = operand.shape[1]
    lib = _library()
    native = lib is not None and n > 0 and col_idx.size > 0
    out = (np.empty if native else np.zeros)((block_rows * bo, n),  # the kernel writes all
                                             dtype=np.int32 if integer else np.float32)
    if not native:
        _numpy_product(blocks, row_ptr, col_idx, operand, out, integer)
    else:
        function = lib.bsr_i8gemm if integer else lib.bsr_sgemm
        status = function(block_rows, bo, width, blocks.ctypes.data, row_ptr.ctypes.data,
                          col_idx.ctypes.data, block_cols if integer else operand.shape[0],
                          n, operand.ctypes.data, n, out.ctypes.data, n, threads)
        if status != 0:
            raise MemoryError("bsr_matmul: the native kernel could not allocate its buffers")
    return out[:weight.shape[0]]


def _numpy_product(blocks: np.ndarray, row_ptr: np.ndarray, col_idx: np.ndarray,
                   operand: np.ndarray, out: np.ndarray, integer: bool) -> None:
    """One BLAS product per block row: its blocks side by side times the X rows they
    read (float64 for int8, exact below 2^53)."""
    bo, width = blocks.shape[1], blocks.shape[2]
    kind = np.float64 if integer else np.float32
    x = operand.astype(kind, copy=False)
    for r in range(len(row_ptr) - 1):
        a, b = int(row_ptr[r]), int(row_ptr[r + 1])
        if a == b:
            continue
        left = blocks[a:b].astype(kind, copy=False).transpose(1, 0, 2).reshape(bo, -1)
        index = (col_idx[a:b, None] * width + np.arange(width)[None, :]).reshape(-1)
        product = left @ x[index]
        out[r * bo:(r + 1) * bo] = product.astype(out.dtype) if integer else product
