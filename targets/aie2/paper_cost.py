"""The paper's estimator as a cost mode (``--cost-model paper``; docs/design.md).

The authors' published per-instruction profiles follow these rules, which differ from
the ones the paper's text states and from bsir's own (``honest``) time model:

- R1 COMP per iteration: ceil(IC_h x IC_w x IC_c x KH x KW x CIN_w x d / 256) cycles, the
  input tile (halo included) times the kernel volume times the weight chunk's input
  channels, d the layer's density of kept weight blocks; a short tail block is charged
  as a full tile. Output channels per core and core rows do not appear.
- R2 LOADFM: IC_h x pad8(IC_w) x IC_c bytes per iteration on one broadcast link per
  column (an addition sends both inputs).
- R3 WRITEFM: OC_h x pad8(OC_w) x OC_c bytes per iteration, OC_c all output channels of
  the column, on one link per column.
- R4 each core gets one weight chunk per DDR pass, even when its channels need more.
- R5 a group of one iteration runs its stages one after another, of n > 1 iterations
  n x the longest (the same rule as bsir's, targets/aie2/cost.py); LOAD and LOADW in
  parallel; WRITE on one DDR channel per memtile; bandwidths in GiB/s (the ``paper``
  hardware preset).
- R6 a layer split over input channels iterates one input-channel chunk only.

The rules are applied to whatever mapping is timed: bsir's, or the paper's own
subvolumes (tests/unit/test_paper_cost.py rebuilds the paper's worked example).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from bsir.targets.aie2.cost import GroupTime, group_time
from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array
from bsir.targets.aie2.program import Subvolume

COST_MODELS = ("honest", "paper")
PAPER_WRITE_CHANNELS = 1
"""R5: WRITE (memtile -> DDR) runs on one channel of a memtile."""


def pad8(n: int) -> int:
    """``n`` rounded up to a multiple of 8 (the estimator's column padding)."""
    return ceil(n / 8) * 8


@dataclass(frozen=True)
class PaperIteration:
    """One iteration of a core as the paper's estimator charges it (R1-R3)."""

    in_tile: tuple[int, int, int]
    """IC: input rows, columns (halo included) and channels of every input together."""
    out_tile: tuple[int, int, int]
    """OC: output rows, columns and every output channel of the core's column."""
    kernel: tuple[int, int]
    cin_w: int
    """Input channels of the weight chunk (1 for a layer without weights)."""
    density: float = 1.0
    links: int = 1
    """Core tiles one column link carries per iteration: 1 when the column's cores
    share their input, the core rows when each reads rows of its own (H-split)."""
    residual: bool = False
    """A fused addition: its other input rides with the input (R2 sends both inputs of
    an addition), an output tile's worth."""

    def comp_cycles(self, array: AIE2Array) -> int:
        """R1."""
        h, w, c = self.in_tile
        kh, kw = self.kernel
        return ceil(h * w * c * kh * kw * self.cin_w * self.density / array.macs_per_cycle)

    @property
    def loadfm_bytes(self) -> int:
        """R2."""
        h, w, c = self.in_tile
        oh, ow, oc = self.out_tile
        return (h * pad8(w) * c + (oh * pad8(ow) * oc if self.residual else 0)) * self.links

    @property
    def writefm_bytes(self) -> int:
        """R3."""
        h, w, c = self.out_tile
        return h * pad8(w) * c * self.links

    def group(self, iterations: int, repeat: int, array: AIE2Array) -> GroupTime:
        """A group of ``iterations`` such iterations run ``repeat`` times (R5)."""
        return group_time(self.loadfm_bytes, self.comp_cycles(array) * array.macs_per_cycle,
                          self.writefm_bytes, iterations, repeat, array)


def paper_iteration(shape: LayerShape, sub: Subvolume, channel_slices: int,
                    density: float, row_parts: int = 1) -> PaperIteration:
    """The iteration of a mapped layer under R1-R3: the subvolume's full tiles, the
    output channels of the ``channel_slices`` core rows of a column that split them;
    when the rows also split output rows (``row_parts`` > 1), each part's tiles on the
    column's link."""
    in_channels = sub.input_bytes // max(sub.in_h * sub.in_w, 1)
    weighted = shape.weighted
    channels = sub.cout * channel_slices
    return PaperIteration((sub.in_h, sub.in_w, in_channels), (sub.h, sub.w, channels),
                          shape.kernel if weighted or shape.is_pool else (1, 1),
                          sub.cin if weighted else 1, density, row_parts, shape.residual)


def paper_repeat(shape: LayerShape, sub: Subvolume, repeat: int) -> int:
    """R6: a layer split over input channels iterates one input-channel chunk only."""
    if not sub.cin_split:
        return repeat
    return max(1, repeat // ceil(shape.cin_per_group / sub.cin))


def paper_weight_loads(passes: int) -> int:
    """R4: one weight chunk per core per DDR pass."""
    return passes
