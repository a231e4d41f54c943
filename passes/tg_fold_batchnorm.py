"""``tg-fold-batchnorm``: fold each batch norm into the convolution or linear layer before it.

``bn(conv(x, W) + b)`` with s = scale / sqrt(var + eps) becomes
``conv(x, s * W) + (b - mean) * s + shift`` (s scales each output channel, so zero
blocks stay zero). The new weights go to ``<weights>.folded.npz`` (or ``weights-out``).
A batch norm that cannot fold backwards (its input is not a float convolution or linear
layer used by it alone: DenseNet's batch norms follow a concatenation) becomes what it
computes, a per-channel affine map: on a 4-D tensor a depthwise 1x1 convolution with
weight s and bias shift - mean * s, which every later stage (quantization, mapping, the
simulator) already knows. A 2-D one is left as it is; ``tg-quantize`` refuses graphs
that still hold one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
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
from bsir.weights import (
    LazyWeights,
    copy_weights,
    load_weights,
    restrict_weights,
    save_derived_weights,
)


def _key(value) -> str:
    owner = value.owner
    assert isinstance(owner, tg.WeightOp)
    return owner.key.data


def fold_weight(weight: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``weight`` scaled per output channel: the product in float64, rounded once to
    float32 (numpy works through buffers, so no float64 copy of the weight is made)."""
    folded = np.empty(weight.shape, np.float32)
    np.multiply(weight, factor.reshape((-1,) + (1,) * (weight.ndim - 1)), out=folded,
                dtype=np.float64, casting="same_kind")
    return folded


class FoldBatchNorm(RewritePattern):
    """Rewrites one conv/linear + batch-norm pair, updating ``arrays``."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    @op_type_rewrite_pattern
    def match_and_rewrite(self, bn: tg.BatchNormOp, rewriter: PatternRewriter) -> None:
        layer = bn.input.owner
        if not isinstance(layer, tg.WEIGHTED_OPS) or not layer.output.has_one_use():
            return
        if layer.quant is not None or not isinstance(layer.weight.owner, tg.WeightOp):
            return
        if not layer.weight.has_one_use():
            return
        w_key = _key(layer.weight)
        b_key = _key(layer.bias) if layer.bias is not None else self._new_bias_key(w_key)
        keys = [_key(v) for v in (bn.scale, bn.shift, bn.mean, bn.variance)]
        makers = {key: self._maker(key) for key in (*keys, w_key)}
        bias_maker = self._maker(b_key) if layer.bias is not None else None
        eps, name = bn.eps, keys[3]

        @cache
        def folded() -> tuple[np.ndarray, np.ndarray]:
            """The per-channel factor and the folded bias."""
            scale, shift, mean, var = (makers[key]().astype(np.float64) for key in keys)
            factor = _factor(eps, name, scale, var)
            bias = bias_maker() if bias_maker is not None else 0.0
            return factor, ((bias - mean) * factor + shift).astype(np.float32)

        channels = tuple(tg.tensor_shape(bn.scale))
        if isinstance(self.arrays, LazyWeights):
            # nothing is drawn or computed until (if ever) the folded values are read: a
            # time estimate never reads them
            self.arrays.defer(w_key, self.arrays.shape_of(w_key),
                              lambda: fold_weight(makers[w_key](), folded()[0]))
            self.arrays.defer(b_key, channels, lambda: folded()[1])
        else:
            factor, self.arrays[b_key] = folded()
            self.arrays[w_key] = fold_weight(self.arrays[w_key], factor)

        new_ops: list[tg.WeightOp | tg.Conv2dOp | tg.MatmulOp] = []
        if layer.bias is None:
            bias_op = tg.WeightOp(b_key, tg.tensor_type(channels))
            new_ops.append(bias_op)
            bias_value = bias_op.result
        else:
            bias_value = layer.bias
        if isinstance(layer, tg.Conv2dOp):
            new = tg.Conv2dOp(layer.input, layer.weight, bias_value, stride=layer.stride_hw,
                              pad=layer.pads, dilation=layer.dilation_hw,
                              groups=layer.group_count)
        else:
            new = tg.MatmulOp(layer.input, layer.weight, bias_value)
        if layer.sparsity is not None:
            new.properties["sparsity"] = layer.sparsity
        new_ops.append(new)
        rewriter.replace(bn, new_ops, [new.output])
        rewriter.erase(layer)

    def _maker(self, key: str) -> Callable[[], np.ndarray]:
        """A function returning the value of weight ``key``, read (or drawn) when called."""
        if isinstance(self.arrays, LazyWeights):
            return self.arrays.maker(key)
        value = self.arrays[key]
        return lambda: value

    def _new_bias_key(self, weight_key: str) -> str:
        stem = weight_key[: -len(".weight")] if weight_key.endswith(".weight") else weight_key
        key, n = f"{stem}.bias", 1
        while key in self.arrays:
            key, n = f"{stem}.bias{n}", n + 1
        return key


class BatchNormAsDepthwise(RewritePattern):
    """Rewrites a batch norm on an N x H x W x C tensor that did not fold into a
    depthwise 1x1 convolution (groups = C), updating ``arrays``."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    @op_type_rewrite_pattern
    def match_and_rewrite(self, bn: tg.BatchNormOp, rewriter: PatternRewriter) -> None:
        shape = tg.tensor_shape(bn.input)
        if len(shape) != 4:
            return
        scale, shift, mean, var = (self.arrays[_key(v)].astype(np.float64)
                                   for v in (bn.scale, bn.shift, bn.mean, bn.variance))
        factor = _factor(bn.eps, _key(bn.variance), scale, var)
        channels = shape[3]
        stem = _key(bn.scale).removesuffix(".weight")
        w_key, b_key = self._fresh(f"{stem}.affine.weight"), self._fresh(f"{stem}.affine.bias")
        self.arrays[w_key] = factor.astype(np.float32).reshape(channels, 1, 1, 1)
        self.arrays[b_key] = (shift - mean * factor).astype(np.float32)
        weight = tg.WeightOp(w_key, tg.tensor_type((channels, 1, 1, 1)))
        bias = tg.WeightOp(b_key, tg.tensor_type((channels,)))
        conv = tg.Conv2dOp(bn.input, weight.result, bias.result, stride=(1, 1),
                           pad=(0, 0, 0, 0), dilation=(1, 1), groups=channels)
        rewriter.replace(bn, [weight, bias, conv], [conv.output])

    def _fresh(self, key: str) -> str:
        candidate, n = key, 1
        while candidate in self.arrays:
            candidate, n = f"{key}{n}", n + 1
        return candidate


def _factor(eps: float, variance_key: str, scale: np.ndarray, var: np.ndarray) -> np.ndarray:
    """scale / sqrt(var + eps), refusing a variance + epsilon that is not positive."""
    if not (var + eps > 0).all():
        raise PassFailedException(
            f"tg-fold-batchnorm: batch norm '{variance_key}' has a variance + "
            "epsilon that is not positive")
    return scale / np.sqrt(var + eps)


@dataclass(frozen=True)
class TgFoldBatchnormPass(ModulePass):
    """Fold batch norms into the preceding convolution or linear layer; the others
    become depthwise 1x1 convolutions."""

    name = "tg-fold-batchnorm"

    weights_out: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        arrays = fold_batchnorms(op, load_weights(op))
        save_derived_weights(op, arrays, "folded", self.weights_out)


def fold_batchnorms(module: ModuleOp, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold in memory: rewrites ``module`` and returns the weights it now references."""
    arrays = copy_weights(arrays)
    PatternRewriteWalker(FoldBatchNorm(arrays), apply_recursively=False).rewrite_module(module)
    PatternRewriteWalker(BatchNormAsDepthwise(arrays),
                         apply_recursively=False).rewrite_module(module)
    remove_unused_weights(module)
    return restrict_weights(arrays, {w.key.data for w in module.walk()
                                     if isinstance(w, tg.WeightOp)})


def remove_unused_weights(module: ModuleOp) -> None:
    """Erase ``tg.weight`` ops whose value no op uses any more."""
    for weight in [w for w in module.walk() if isinstance(w, tg.WeightOp)]:
        if not weight.result.uses:
            weight.parent_block().erase_op(weight)  # type: ignore[union-attr]
