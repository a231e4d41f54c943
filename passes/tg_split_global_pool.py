"""``tg-split-global-pool``: a global average pool over a large H x W becomes an average
pool of k x k blocks followed by a global average pool of what is left.

A core computes one output of a global pool from its whole H x W window of each channel,
so that window has to fit the core's input buffer (8 KB): EfficientNet-B0's first
squeeze-and-excitation pools 112 x 112. The mean of equal blocks' means is the mean, so
in float the graph computes the same; in INT8 the block averages are requantized once
more (tg-quantize calibrates them like any activation), and the reference executor and
the array run the same two pools. The smallest k >= 2 that divides H and W and leaves at
most ``max_window`` positions is used; a pool with no such k is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import tg

MAX_WINDOW = 4096
"""Positions of the largest global pool window kept whole: 4 KB a channel, half the
default core input buffer."""


def block_size(h: int, w: int, max_window: int) -> int | None:
    """The smallest k >= 2 dividing h and w with (h / k) * (w / k) <= max_window."""
    for k in range(2, min(h, w) + 1):
        if h % k == 0 and w % k == 0 and (h // k) * (w // k) <= max_window:
            return k
    return None


class SplitGlobalPool(RewritePattern):
    def __init__(self, max_window: int):
        self.max_window = max_window

    @op_type_rewrite_pattern
    def match_and_rewrite(self, pool: tg.GlobalAvgPoolOp, rewriter: PatternRewriter) -> None:
        if pool.quant is not None:
            return
        _, h, w, _ = tg.tensor_shape(pool.input)
        if h * w <= self.max_window:
            return
        k = block_size(h, w, self.max_window)
        if k is None:
            return
        blocks = tg.AvgPool2dOp(pool.input, (k, k), (k, k))
        rest = tg.GlobalAvgPoolOp(blocks.output)
        rewriter.replace(pool, [blocks, rest], [rest.output])


@dataclass(frozen=True)
class TgSplitGlobalPoolPass(ModulePass):
    """Split global average pools whose window exceeds ``max_window`` positions."""

    name = "tg-split-global-pool"

    max_window: int = MAX_WINDOW

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.max_window < 1:
            raise PassFailedException(
                f"tg-split-global-pool: max_window must be positive, got {self.max_window}")
        PatternRewriteWalker(SplitGlobalPool(self.max_window),
                             apply_recursively=False).rewrite_module(op)
