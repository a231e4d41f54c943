"""The bytes of a layer's weights in DDR and memtile, and of each core's chunk.

A COUT band of a layer is one *image*: the INT8 weights, then the int32 biases (little
endian) of the band's channels. Dense weights are laid out ``[c, kh, kw, cin/groups]``;
block-sparse ones are the packed blocks of the compaction format
(``blocks[nnz, b_out, kh*kw, b_in]``, block rows in order). LOADW moves the image into
the weight memtiles, cut into equal consecutive pieces, one per memtile.

A core's chunk (channels ``[c0, c1)`` of the band, input channels ``[k0, k1)``) is the
same layout restricted to the chunk: the dense sub-block, or the kept blocks of the
chunk's block rows whose block column meets ``[k0, k1)``, then the chunk's biases.
LOADWDM gathers it into core memory; COMP decodes it back, knowing (as generated code
does) which blocks the sparsity pattern keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from bsir.compaction import BlockSparseWeight, pack
from bsir.targets.aie2.geometry import BIAS_BYTES


@dataclass(frozen=True)
class WeightImage:
    """One COUT band's image and how to cut and decode chunks of it."""

    c0: int                       # first output channel of the band
    c1: int
    data: np.ndarray              # uint8 bytes of the image
    dense: np.ndarray | None      # int8 [c, kh, kw, cin] (dense layers)
    packed: BlockSparseWeight | None
    has_bias: bool

    @property
    def weight_bytes(self) -> int:
        return self.data.size - (self.c1 - self.c0) * BIAS_BYTES * self.has_bias

    def chunk_offsets(self, c0: int, c1: int, k0: int, k1: int) -> np.ndarray:
        """Image byte offsets of the chunk, in the order the core stores them."""
        a, b = c0 - self.c0, c1 - self.c0
        if self.packed is None:
            assert self.dense is not None
            _, kh, kw, cin = self.dense.shape
            c = np.arange(a, b)[:, None, None, None]
            y = np.arange(kh)[None, :, None, None]
            x = np.arange(kw)[None, None, :, None]
            k = np.arange(k0, k1)[None, None, None, :]
            parts = [(((c * kh + y) * kw + x) * cin + k).ravel()]
        else:
            parts = [self._blocks(a, b, k0, k1)[1]]
        if self.has_bias:
            start = self.weight_bytes + a * BIAS_BYTES
            parts.append(np.arange(start, start + (b - a) * BIAS_BYTES))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _blocks(self, a: int, b: int, k0: int, k1: int) -> tuple[list[tuple[int, int]],
                                                                  np.ndarray]:
        """Kept (block row, block col) of the chunk and their image byte offsets."""
        packed = self.packed
        assert packed is not None
        bo, bi = packed.block
        per_block = int(np.prod(packed.blocks.shape[1:]))
        kept, offsets = [], []
        for row in range(a // bo, ceil(b / bo)):
            for j in range(int(packed.row_ptr[row]), int(packed.row_ptr[row + 1])):
                col = int(packed.col_idx[j])
                if col * bi < k1 and (col + 1) * bi > k0:
                    kept.append((row, col))
                    offsets.append(np.arange(j * per_block, (j + 1) * per_block))
        flat = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
        return kept, flat

    def decode(self, chunk: np.ndarray, c0: int, c1: int, k0: int, k1: int,
               kernel: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """The chunk's dense int8 weights ``[c1-c0, kh, kw, k1-k0]`` and int32 biases,
        from the bytes a core holds."""
        kh, kw = kernel
        a, b = c0 - self.c0, c1 - self.c0
        count = (b - a) * kh * kw * (k1 - k0)
        if self.packed is None:
            weights = chunk[:count].view(np.int8).reshape(b - a, kh, kw, k1 - k0)
            used = count
        else:
            bo, bi = self.packed.block
            kept, _ = self._blocks(a, b, k0, k1)
            per_block = bo * kh * kw * bi
            weights = np.zeros((b - a, kh, kw, k1 - k0), dtype=np.int8)
            for index, (row, col) in enumerate(kept):
                block = chunk[index * per_block:(index + 1) * per_block].view(np.int8)
                block = block.reshape(bo, kh, kw, bi)
                r0, c_start = row * bo - a, col * bi - k0
                rs, re = max(r0, 0), min(r0 + bo, b - a)
                cs, ce = max(c_start, 0), min(c_start + bi, k1 - k0)
                if rs < re and cs < ce:
                    weights[rs:re, :, :, cs:ce] = block[rs - r0:re - r0, :, :,
                                                        cs - c_start:ce - c_start]
            used = len(kept) * per_block
        bias = None
        if self.has_bias:
            bias = chunk[used:used + (b - a) * BIAS_BYTES].view("<i4").astype(np.int64)
        return weights, bias


def band_image(weight: np.ndarray, bias: np.ndarray | None, c0: int, c1: int,
               mask: np.ndarray | None, block: tuple[int, int]) -> WeightImage:
    """The image of output channels [c0, c1) (whole block rows when sparse)."""
    w = np.asarray(weight).astype(np.int8)
    if w.ndim == 2:  # a linear layer: [cout, cin] as a 1x1 convolution
        w = w[:, None, None, :]
    elif w.ndim == 1:  # a per-channel weight (layer norm's) as a depthwise 1x1's
        w = w[:, None, None, None]
    band = w[c0:c1]
    parts: list[np.ndarray]
    packed = None
    if mask is not None:
        bo = block[0]
        packed = pack(band, mask[c0 // bo: ceil(c1 / bo)], block)
        parts = [packed.blocks.astype(np.int8).ravel().view(np.uint8)]
    else:
        parts = [np.ascontiguousarray(band).ravel().view(np.uint8)]
    if bias is not None:
        parts.append(np.asarray(bias[c0:c1]).astype("<i4").view(np.uint8))
    data = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return WeightImage(c0, c1, data, None if packed is not None else np.ascontiguousarray(band),
                       packed, bias is not None)
