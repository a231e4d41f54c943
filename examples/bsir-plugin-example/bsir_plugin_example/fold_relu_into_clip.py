"""``example-fold-relu-into-clip``: drop a ReLU that a following clip makes redundant."""

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

from bsir.dialects import tg


class FoldReluIntoClip(RewritePattern):
    """clip(relu(x), lo, hi) with lo >= 0  ->  clip(x, lo, hi)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tg.ClipOp, rewriter: PatternRewriter) -> None:
        relu = op.input.owner
        lo, hi = op.bounds
        if not isinstance(relu, tg.ReluOp) or lo < 0 or op.quant is not None:
            return
        rewriter.replace(op, tg.ClipOp(relu.input, lo, hi))
        if not relu.output.uses:
            rewriter.erase(relu)


@dataclass(frozen=True)
class FoldReluIntoClipPass(ModulePass):
    name = "example-fold-relu-into-clip"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(FoldReluIntoClip()).rewrite_module(op)
