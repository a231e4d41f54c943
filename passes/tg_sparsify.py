"""``tg-sparsify``: choose a block mask Gamma per weighted layer and zero its blocks.

For each convolution (and linear layer, with ``linear=true``) the blocks of its weight
are scored by ``criterion`` (l1, l2, variance, variance-global; see bsir.sparsity) and
the lowest-scoring ``ratio`` of them are zeroed. Gamma goes into the op's
``#tg.sparsity`` attribute, the zeroed weights into a new ``.npz``
(``<weights>.sparse.npz`` unless ``weights-out`` names one); the input files are kept.

Options::

    block=8,8            block shape over (COUT, CIN)
    ratio=0.5            fraction of blocks to zero, rounded to whole blocks
    criterion=l2         l1 | l2 | variance | variance-global
    skip-first=false     leave the first convolution dense (the paper does)
    linear=false         also sparsify linear (tg.matmul) layers
    balanced=false       the same number of kept blocks in every block row
    overrides="layer4.*=0.75 fc=0"   per-layer ratios, fnmatch patterns on layer names
    weights-out=""       file for the new weights
    report=true          print each layer's density to stderr
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir import sparsity
from bsir.dialects import tg
from bsir.dialects.tg import layer_names, only_graph
from bsir.weights import load_weights, save_derived_weights


@dataclass(frozen=True)
class TgSparsifyPass(ModulePass):
    """Block-sparsify weighted layers (paper section 3.2)."""

    name = "tg-sparsify"

    block: tuple[int, ...] = (8, 8)
    ratio: float = 0.5
    criterion: str = "l2"
    skip_first: bool = False
    linear: bool = False
    balanced: bool = False
    overrides: str = ""
    weights_out: str = ""
    report: bool = True

    def plan(self) -> sparsity.SparsityPlan:
        """The options, checked, as the plan shared with ``bsir.train``."""
        try:
            return sparsity.SparsityPlan(
                tuple(self.block), self.ratio, self.criterion,  # type: ignore[arg-type]
                self.skip_first, self.linear, self.balanced,
                sparsity.parse_overrides(self.overrides))
        except ValueError as error:
            raise PassFailedException(f"tg-sparsify: {error}") from None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        plan = self.plan()
        graph = only_graph(op)
        arrays = load_weights(op)
        kinds = tg.WEIGHTED_OPS if self.linear else (tg.Conv2dOp,)
        users: dict[str, int] = {}
        for layer in graph.block.ops:
            if isinstance(layer, tg.WEIGHTED_OPS):
                key = layer.weight.owner.key.data  # type: ignore[union-attr]
                users[key] = users.get(key, 0) + 1
        lines = []
        first_conv = True
        names = layer_names(graph)
        for layer in graph.block.ops:
            if not isinstance(layer, kinds):
                continue
            name = names[layer]
            is_first = first_conv and isinstance(layer, tg.Conv2dOp)
            first_conv = first_conv and not isinstance(layer, tg.Conv2dOp)
            ratio = plan.ratio_for(name, is_first)
            owner = layer.weight.owner
            if not isinstance(owner, tg.WeightOp):
                raise PassFailedException(f"tg-sparsify: the weight of {name} is not a tg.weight")
            key = owner.key.data
            if users[key] > 1:
                raise PassFailedException(
                    f"tg-sparsify: weight '{key}' is shared by {users[key]} layers"
                )
            weight = arrays[key]
            shape = "x".join(map(str, weight.shape))
            if ratio == 0.0:  # left dense: no mask, no block padding
                layer.properties.pop("sparsity", None)
                lines.append((name, f"{shape:>16s} {'dense':^11s} {1.0:8.3f}"))
                continue
            mask = plan.mask(weight, ratio)
            arrays[key] = sparsity.apply_mask(weight, mask, self.block)
            layer.properties["sparsity"] = tg.SparsityAttr.from_mask(self.block, mask)
            lines.append((name, f"{shape:>16s} "
                                f"{mask.shape[0]:>5d}x{mask.shape[1]:<5d} {mask.mean():8.3f}"))
        path = save_derived_weights(op, arrays, "sparse", self.weights_out)
        if self.report:
            print(f"tg-sparsify: block {self.block[0]}x{self.block[1]}, ratio {self.ratio}, "
                  f"criterion {self.criterion} -> {path}", file=sys.stderr)
            width = max([32, *(len(name) for name, _ in lines)])
            print(f"{'layer':{width}s} {'weight':>16s} {'blocks':^11s} {'density':>8s}",
                  file=sys.stderr)
            print("\n".join(f"{name:{width}s} {rest}" for name, rest in lines),
                  file=sys.stderr)
