"""``tiling-compact-weights``: pack each block-sparse layer's weights for the cores.

For every mapped layer with a ``#tg.sparsity``, the weights are packed in the
compaction format (bsir/compaction.py: only kept blocks, BSR indices). Each core's
COUT chunk is a run of block rows, so what one LOADWDM moves is one contiguous slice
of the packed payload. The pass checks that the weights are zero wherever Gamma drops a
block, and that the largest chunk equals the subvolume's weight bytes the mapper
planned with; records a ``#tiling.compaction``; and writes the packed arrays
(``KEY.blocks``, ``KEY.row_ptr``, ``KEY.col_idx``) to ``<weights>.packed.npz``, named
by the module attribute ``tiling.packed_weights``. Dense layers keep their dense layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir.compaction import BlockSparseWeight, pack
from bsir.dialects import tg, tiling
from bsir.dialects.tg import only_graph
from bsir.sparsity import mask_of_zero_blocks
from bsir.targets.aie2.geometry import BIAS_BYTES
from bsir.targets.aie2.layer_shape import mapped_shape
from bsir.targets.aie2.mapping import Split, band_channels
from bsir.weights import load_weights, save_derived_weights


def core_channel_ranges(layer: tiling.LayerOp, cout: int, band: int) -> list[tuple[int, int]]:
    """Every active core's output channel range in every COUT band of ``band`` channels."""
    split = Split.of(layer)
    rows, cols = len(split.row_bounds) - 1, len(split.col_bounds) - 1
    ranges = {split.core_block((0, 0), band, r, c)[2] for r in range(rows)
              for c in range(cols)}
    out = set()
    for base in range(0, cout, band):
        for a, b in ranges:
            a, b = base + a, min(base + b, base + band, cout)
            if b > a:
                out.add((a, b))
    return sorted(out)


def largest_chunk(packed: BlockSparseWeight, ranges: list[tuple[int, int]], chunk: int,
                  has_bias: bool) -> int:
    """Bytes of the largest ``chunk``-channel piece of any core's weights."""
    bo = packed.block[0]
    per_block = int(np.prod(packed.blocks.shape[1:])) * packed.blocks.itemsize \
        if packed.nnz_blocks else 0
    best = 0
    for c0, c1 in ranges:
        for start in range(c0, c1, chunk):
            stop = min(start + chunk, c1)
            blocks = int(packed.row_ptr[ceil(stop / bo)] - packed.row_ptr[start // bo])
            size = blocks * per_block + (stop - start) * BIAS_BYTES * has_bias
            best = max(best, size)
    return best


@dataclass(frozen=True)
class TilingCompactWeightsPass(ModulePass):
    """Pack block-sparse weights per subvolume and check them against the mapping."""

    name = "tiling-compact-weights"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        arrays = load_weights(op)
        packed_arrays: dict[str, np.ndarray] = {}
        for layer in only_graph(op).block.ops:
            if not isinstance(layer, tiling.LayerOp):
                continue
            inner = layer.inner
            if not isinstance(inner, tg.WEIGHTED_OPS) or inner.sparsity is None \
                    or layer.keeps_zeros is not None:
                continue
            key = inner.weight.owner.key.data  # type: ignore[union-attr]
            weight = arrays[key]
            block = inner.sparsity.block_shape
            mask = inner.sparsity.mask_array()
            if (mask_of_zero_blocks(weight, block) & ~mask).any():
                raise PassFailedException(
                    f"tiling-compact-weights: layer '{layer.layer_name.data}' has non-zero "
                    "weights in blocks its #tg.sparsity drops"
                )
            packed = pack(weight.astype(np.int8) if weight.dtype == np.int8 else weight,
                          mask, block)
            # The cores hold INT8: size the payload at one byte per weight.
            int8_view = BlockSparseWeight(packed.shape, packed.block,
                                          packed.blocks.astype(np.int8, copy=False),
                                          packed.row_ptr, packed.col_idx)
            sub = layer.subvolume
            cout = weight.shape[0]
            band = band_channels(mapped_shape(layer), layer.ddr.get("cout_passes"))
            chunk = largest_chunk(int8_view, core_channel_ranges(layer, cout, band),
                                  sub.get("cout"), inner.bias is not None)
            if not sub.get("cin_split") and chunk > sub.get("weight_bytes"):
                raise PassFailedException(
                    f"tiling-compact-weights: layer '{layer.layer_name.data}' packs to "
                    f"{chunk} bytes per chunk, more than the {sub.get('weight_bytes')} the "
                    "mapping planned"
                )
            layer.properties["compaction"] = tiling.CompactionAttr.make(
                block=block, kept_blocks=packed.nnz_blocks, total_blocks=int(mask.size),
                packed_bytes=int8_view.payload_bytes + int8_view.index_bytes,
                chunk_bytes=chunk,
            )
            packed_arrays[f"{key}.blocks"] = packed.blocks
            packed_arrays[f"{key}.row_ptr"] = packed.row_ptr
            packed_arrays[f"{key}.col_idx"] = packed.col_idx
        save_derived_weights(op, packed_arrays, "packed", attr=tiling.PACKED_WEIGHTS_ATTR)
