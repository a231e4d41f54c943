"""The compaction format: only the non-zero blocks of a weight, with their indices.

A block-sparse-row (BSR) layout over the (COUT, CIN) block grid of paper section 4.2.
Each stored block is ``b_out x KH*KW x b_in`` (edge blocks zero-padded to full size),
in COUT-major then CIN order, so a run of block rows is one contiguous piece of the
payload: that is what the tiling passes split into subvolumes, each a single load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bsir.sparsity import as_matrix_blocks, grid_shape


@dataclass(frozen=True)
class BlockSparseWeight:
    """A packed weight: ``blocks[row_ptr[r]:row_ptr[r+1]]`` are block row r's non-zeros."""

    shape: tuple[int, ...]
    block: tuple[int, int]
    blocks: np.ndarray
    row_ptr: np.ndarray
    col_idx: np.ndarray

    @property
    def grid(self) -> tuple[int, int]:
        return grid_shape(self.shape, self.block)

    @property
    def nnz_blocks(self) -> int:
        return int(self.col_idx.size)

    @property
    def density(self) -> float:
        rows, cols = self.grid
        return self.nnz_blocks / (rows * cols) if rows * cols else 1.0

    @property
    def payload_bytes(self) -> int:
        """Bytes of the stored blocks (what moves to the cores)."""
        return int(self.blocks.nbytes)

    @property
    def index_bytes(self) -> int:
        return int(self.row_ptr.nbytes + self.col_idx.nbytes)

    def mask(self) -> np.ndarray:
        """Gamma: which blocks are stored."""
        rows, cols = self.grid
        out = np.zeros((rows, cols), dtype=bool)
        row_of = np.repeat(np.arange(rows), np.diff(self.row_ptr))
        out[row_of, self.col_idx] = True
        return out

    def row_slice(self, start: int, stop: int) -> BlockSparseWeight:
        """Block rows ``start:stop`` (COUT blocks) as a packed weight of their own."""
        rows, _ = self.grid
        if not 0 <= start <= stop <= rows:
            raise ValueError(f"block rows {start}:{stop} outside 0:{rows}")
        lo, hi = int(self.row_ptr[start]), int(self.row_ptr[stop])
        bo = self.block[0]
        cout = min(stop * bo, self.shape[0]) - start * bo
        return BlockSparseWeight(
            shape=(cout, *self.shape[1:]),
            block=self.block,
            blocks=self.blocks[lo:hi],
            row_ptr=self.row_ptr[start:stop + 1] - lo,
            col_idx=self.col_idx[lo:hi],
        )

    def to_dense(self) -> np.ndarray:
        """The dense weight: stored blocks in place, zeros elsewhere."""
        return unpack(self)


def pack(weight: np.ndarray, mask: np.ndarray, block: Sequence[int]) -> BlockSparseWeight:
    """Keep the blocks of ``weight`` that ``mask`` marks; drop the others."""
    bo, bi = block
    matrix = as_matrix_blocks(np.asarray(weight))
    cout, k, cin = matrix.shape
    rows, cols = grid_shape(weight.shape, block)
    if mask.shape != (rows, cols):
        raise ValueError(f"mask {mask.shape} does not match the {rows}x{cols} block grid")
    padded = np.zeros((rows * bo, k, cols * bi), dtype=matrix.dtype)
    padded[:cout, :, :cin] = matrix
    tiles = padded.reshape(rows, bo, k, cols, bi).transpose(0, 3, 1, 2, 4)
    row_idx, col_idx = np.nonzero(mask)
    row_ptr = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(row_idx, minlength=rows), out=row_ptr[1:])
    return BlockSparseWeight(
        shape=tuple(weight.shape),
        block=(bo, bi),
        blocks=np.ascontiguousarray(tiles[row_idx, col_idx]),
        row_ptr=row_ptr,
        col_idx=col_idx.astype(np.int32),
    )


def unpack(packed: BlockSparseWeight) -> np.ndarray:
    """Inverse of :func:`pack` on the kept blocks; dropped blocks come back as zeros."""
    bo, bi = packed.block
    rows, cols = packed.grid
    cout, cin = packed.shape[0], packed.shape[-1]
    k = packed.blocks.shape[2] if packed.nnz_blocks else (
        int(np.prod(packed.shape[1:-1])) if len(packed.shape) == 4 else 1)
    tiles = np.zeros((rows, cols, bo, k, bi), dtype=packed.blocks.dtype)
    row_of = np.repeat(np.arange(rows), np.diff(packed.row_ptr))
    tiles[row_of, packed.col_idx] = packed.blocks
    dense = tiles.transpose(0, 2, 3, 1, 4).reshape(rows * bo, k, cols * bi)[:cout, :, :cin]
    return np.ascontiguousarray(dense.reshape(packed.shape))
