"""GraphBuilder: write a network layer by layer as a tg module plus its weight specs.

Shapes are inferred by the tg ops' constructors (the same rules as their verifiers);
weights are recorded as :class:`~bsir.weights.WeightSpec` and only materialized on
request, so building even VGG16's IR is instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from bsir.dialects import tg
from bsir.weights import WeightSpec


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; a pair stays a pair."""
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (a, b)


def pads4(value: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Padding as (top, left, bottom, right) from an int, an (h, w) pair or four values."""
    if isinstance(value, int):
        return (value,) * 4  # type: ignore[return-value]
    if len(value) == 2:
        h, w = value
        return (h, w, h, w)
    top, left, bottom, right = value
    return (top, left, bottom, right)


@dataclass
class BuiltModel:
    """A built network: its module, the weights it needs, and the weights file name."""

    module: ModuleOp
    specs: list[WeightSpec] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def graph(self) -> tg.GraphOp:
        op = self.module.body.block.first_op
        assert isinstance(op, tg.GraphOp)
        return op


class GraphBuilder:
    """Appends tg ops to one graph; each method returns the new activation value."""

    def __init__(self, name: str, input_shape: Sequence[int], weights_file: str = "weights.npz",
                 more_inputs: Sequence[Sequence[int]] = ()):
        types = [tg.tensor_type(shape) for shape in (input_shape, *more_inputs)]
        self.graph = tg.GraphOp(name, types, [])
        self.specs: list[WeightSpec] = []
        self.arrays: dict[str, np.ndarray] = {}
        self._keys: set[str] = set()
        self.weights_file = weights_file

    @property
    def input(self) -> SSAValue:
        return self.graph.block.args[0]

    @property
    def inputs(self) -> tuple[SSAValue, ...]:
        return tuple(self.graph.block.args)

    def _append(self, op: Operation) -> SSAValue:
        self.graph.block.add_op(op)
        return op.results[0]

    def weight(self, key: str, shape: Sequence[int], init: str, scale: float = 1.0
               ) -> SSAValue:
        """A named weight tensor, initialised by ``init`` (times ``scale``) when
        materialized."""
        if key in self._keys:
            raise ValueError(f"duplicate weight key {key!r}")
        self._keys.add(key)
        self.specs.append(WeightSpec(key, tuple(shape), init, scale))
        return self._append(tg.WeightOp(key, tg.tensor_type(shape)))

    def constant(self, key: str, value: np.ndarray) -> SSAValue:
        """A weight with given values (an imported initializer), kept in ``arrays``."""
        if key in self._keys:
            raise ValueError(f"duplicate weight key {key!r}")
        self._keys.add(key)
        self.arrays[key] = value
        return self._append(tg.WeightOp(key, tg.tensor_type(value.shape)))

    def append(self, op: Operation) -> SSAValue:
        """Append any tg op built by the caller; returns its result."""
        return self._append(op)

    def conv(self, x: SSAValue, cout: int, kernel: int | Sequence[int], name: str, *,
             stride: int | Sequence[int] = 1, pad: int | Sequence[int] = 0,
             dilation: int | Sequence[int] = 1, groups: int = 1,
             bias: bool = True) -> SSAValue:
        cin = tg.tensor_shape(x)[3]
        kh, kw = pair(kernel)
        w = self.weight(f"{name}.weight", (cout, kh, kw, cin // groups), "he")
        b = self.weight(f"{name}.bias", (cout,), "bias") if bias else None
        return self._append(
            tg.Conv2dOp(x, w, b, stride=pair(stride), pad=pads4(pad),
                        dilation=pair(dilation), groups=groups)
        )

    def batch_norm(self, x: SSAValue, name: str, eps: float = 1e-5) -> SSAValue:
        c = tg.tensor_shape(x)[-1]
        scale = self.weight(f"{name}.weight", (c,), "bn_scale")
        shift = self.weight(f"{name}.bias", (c,), "bn_shift")
        mean = self.weight(f"{name}.running_mean", (c,), "bn_mean")
        var = self.weight(f"{name}.running_var", (c,), "bn_var")
        return self._append(tg.BatchNormOp(x, scale, shift, mean, var, eps))

    def linear(self, x: SSAValue, cout: int, name: str, bias: bool = True,
               scale: float = 1.0) -> SSAValue:
        """A linear layer over the rows of an N x CIN activation (tokens, or a batch
        of one); ``scale`` multiplies its drawn weight and bias."""
        cin = tg.tensor_shape(x)[1]
        w = self.weight(f"{name}.weight", (cout, cin), "he", scale)
        b = self.weight(f"{name}.bias", (cout,), "bias", scale) if bias else None
        return self._append(tg.MatmulOp(x, w, b))

    def relu(self, x: SSAValue) -> SSAValue:
        return self._append(tg.ReluOp(x))

    def clip(self, x: SSAValue, lo: float, hi: float) -> SSAValue:
        return self._append(tg.ClipOp(x, lo, hi))

    def maxpool(self, x: SSAValue, kernel: int | Sequence[int], stride: int | Sequence[int],
                pad: int | Sequence[int] = 0, ceil_mode: bool = False) -> SSAValue:
        return self._append(
            tg.MaxPool2dOp(x, pair(kernel), pair(stride), pads4(pad), ceil_mode)
        )

    def avgpool(self, x: SSAValue, kernel: int | Sequence[int], stride: int | Sequence[int],
                pad: int | Sequence[int] = 0, count_include_pad: bool = True) -> SSAValue:
        return self._append(
            tg.AvgPool2dOp(x, pair(kernel), pair(stride), pads4(pad),
                           count_include_pad=count_include_pad)
        )

    def global_avgpool(self, x: SSAValue) -> SSAValue:
        return self._append(tg.GlobalAvgPoolOp(x))

    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._append(tg.AddOp(a, b))

    def concat(self, values: Sequence[SSAValue], axis: int = 3) -> SSAValue:
        return self._append(tg.ConcatOp(values, axis))

    def flatten(self, x: SSAValue) -> SSAValue:
        return self._append(tg.FlattenOp(x))

    def reshape(self, x: SSAValue, shape: Sequence[int]) -> SSAValue:
        return self._append(tg.ReshapeOp(x, shape))

    def transpose(self, x: SSAValue, perm: Sequence[int]) -> SSAValue:
        return self._append(tg.TransposeOp(x, perm))

    def slice(self, x: SSAValue, axis: int, start: int, stop: int) -> SSAValue:
        return self._append(tg.SliceOp(x, axis, start, stop))

    def layer_norm(self, x: SSAValue, name: str, eps: float = 1e-6) -> SSAValue:
        features = tg.tensor_shape(x)[-1]
        weight = self.weight(f"{name}.weight", (features,), "bn_scale")
        bias = self.weight(f"{name}.bias", (features,), "bn_shift")
        return self._append(tg.LayerNormOp(x, weight, bias, eps))

    def gelu(self, x: SSAValue, tanh: bool = False) -> SSAValue:
        return self._append(tg.GeluOp(x, tanh))

    def softmax(self, x: SSAValue) -> SSAValue:
        return self._append(tg.SoftmaxOp(x))

    def batch_matmul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._append(tg.BatchMatmulOp(a, b))

    def finish(self, *outputs: SSAValue) -> BuiltModel:
        """Close the graph with ``tg.output`` and wrap it in a module.

        Weights given by :meth:`constant` are in ``BuiltModel.arrays``; the others are
        specs, made by :func:`bsir.weights.materialize`.
        """
        self.graph.block.add_op(tg.OutputOp(outputs))
        inputs = self.graph.function_type.inputs.data
        self.graph.properties["function_type"] = type(self.graph.function_type).from_lists(
            inputs, [v.type for v in outputs]
        )
        module = ModuleOp([self.graph])
        module.attributes[tg.WEIGHTS_ATTR] = StringAttr(self.weights_file)
        return BuiltModel(module, self.specs, self.arrays)
