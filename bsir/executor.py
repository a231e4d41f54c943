"""The reference executor: runs a tg graph on numpy arrays, the oracle of every lowering.

f32 ops compute in float32; i8 ops (those with ``#tg.quant``) compute exactly in integers
as :mod:`bsir.layers` and :mod:`bsir.quant` define. Each array is freed after its last
use, so even VGG16 runs in modest memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from bsir import layers, quant
from bsir.diagnostics import BsirError, op_location
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.dialects.tiling import MappedLayer, YieldOp

Observer = Callable[[SSAValue, np.ndarray], None]


def _is_int8(op: Operation) -> bool:
    return getattr(op, "quant", None) is not None


def operands_of(op: Operation) -> list[SSAValue]:
    """The values an op reads; for a mapped layer, those its body reads from outside."""
    if not isinstance(op, MappedLayer):
        return list(op.operands)
    body = op.body.block
    outer: list[SSAValue] = []
    for inner in body.ops:
        for value in inner.operands:
            defined_inside = value.owner.parent_block() is body \
                if isinstance(value.owner, Operation) else value.owner is body
            if not defined_inside and value not in outer:
                outer.append(value)
    return outer


class Executor:
    """Runs the single graph of a module with the given weights."""

    def __init__(self, module: ModuleOp, weights: dict[str, np.ndarray],
                 block_sparse_kernels: bool | None = None):
        self.graph = only_graph(module)
        self.weights = weights
        self.block_sparse_kernels = block_sparse_kernels
        self._packed_weights: dict[int, tuple[np.ndarray, object]] = {}
        self._last_use: dict[SSAValue, Operation] = {}
        for op in self.graph.block.ops:
            for operand in operands_of(op):
                self._last_use[operand] = op
        self._handlers: dict[type, Callable[[Operation, list[np.ndarray]], np.ndarray]] = {
            tg.WeightOp: self._weight,
            tg.Conv2dOp: self._conv2d,
            tg.MatmulOp: self._matmul,
            tg.MaxPool2dOp: self._maxpool,
            tg.AvgPool2dOp: self._avgpool,
            tg.GlobalAvgPoolOp: self._global_avgpool,
            tg.AddOp: self._binary,
            tg.MulOp: self._binary,
            tg.SubOp: self._binary,
            tg.ConcatOp: self._concat,
            tg.ReluOp: self._relu,
            tg.ClipOp: self._clip,
            **{op_type: self._table for op_type in tg.TABLE_OPS},
            **{op_type: self._move_channels for op_type in tg.MOVE_CHANNEL_OPS},
            tg.FlattenOp: lambda op, a: a[0].reshape(tg.tensor_shape(op.output)),
            tg.ReshapeOp: lambda op, a: a[0].reshape(tg.tensor_shape(op.output)),
            tg.BatchNormOp: lambda op, a: layers.batch_norm_float(*a, op.eps),
            tg.TransposeOp: lambda op, a: np.ascontiguousarray(np.transpose(a[0], op.axes)),
            tg.SliceOp: self._slice,
            tg.SoftmaxOp: self._softmax,
            tg.LayerNormOp: self._layer_norm,
            tg.BatchMatmulOp: self._batch_matmul,
            tg.QuantizeOp: lambda op, a: quant.quantize(a[0], op.fix_position),
            tg.DequantizeOp: lambda op, a: quant.dequantize(a[0], op.fix_position),
        }

    def run(self, inputs: Sequence[np.ndarray], observe: Observer | None = None
            ) -> list[np.ndarray]:
        """Execute the graph; ``observe`` sees every value as it is computed."""
        args = self.graph.block.args
        check_inputs(self.graph, inputs)
        values: dict[SSAValue, np.ndarray] = {}
        for arg, array in zip(args, inputs, strict=True):
            array = np.asarray(array)
            values[arg] = array.astype(np.float32 if array.dtype.kind == "f" else array.dtype)
            if observe:
                observe(arg, values[arg])
        for op in self.graph.block.ops:
            if isinstance(op, tg.OutputOp):
                return [values[v] for v in op.values]
            result = self.evaluate(op, [values[v] for v in operands_of(op)])
            expected = tg.tensor_shape(op.results[0])
            if result.shape != expected:  # an executor bug, never bad input
                raise AssertionError(f"{op.name} produced {result.shape}, expected {expected}")
            values[op.results[0]] = result
            if observe:
                observe(op.results[0], result)
            for operand in operands_of(op):
                if self._last_use.get(operand) is op:
                    values.pop(operand, None)
        raise BsirError("the graph has no tg.output")

    def evaluate(self, op: Operation, args: list[np.ndarray]) -> np.ndarray:
        """One op on given operand arrays. A mapped layer (``tiling.layer``,
        ``aie2.layer``) runs the tg ops of its body: its meaning is theirs."""
        if isinstance(op, MappedLayer):
            return self._mapped_layer(op, args)
        handler = self._handlers.get(type(op))
        if handler is None:
            raise BsirError(f"the executor cannot run '{op.name}'", op_location(op))
        return handler(op, args)

    def _mapped_layer(self, layer: MappedLayer, args: list[np.ndarray]) -> np.ndarray:
        inner: dict[SSAValue, np.ndarray] = dict(zip(operands_of(layer), args, strict=True))
        for op in layer.body.block.ops:
            if isinstance(op, YieldOp):
                return inner[op.values[0]]
            if not isinstance(op, tg.LAYER_OPS):
                continue  # transfers and instructions move data, they compute nothing
            inner[op.results[0]] = self.evaluate(op, [inner[v] for v in op.operands])
        raise BsirError("a mapped layer has no tiling.yield", op_location(layer))

    # ----------------------------------------------------------------- handlers

    def _weight(self, op: tg.WeightOp, _args) -> np.ndarray:
        key = op.key.data
        if key not in self.weights:
            raise BsirError(f"no value for weight '{key}'", op_location(op))
        return self.weights[key]

    def _packed(self, op: tg.Conv2dOp, w: np.ndarray):
        """The weight packed for bsir.kernels when the op is block-sparse enough for the
        native kernel to beat a dense product (bsir.kernels.worth_it; ``block_sparse_kernels``
        True: whenever the op is sparse, False: never), else None. The results are the
        same either way: exact for int8, float32 sums for float."""
        from bsir import kernels
        from bsir.compaction import pack

        sparsity = op.sparsity
        if self.block_sparse_kernels is False or sparsity is None or op.group_count != 1:
            return None
        out = tg.tensor_shape(op.output)
        useful = sparsity.density() * w.size * int(np.prod(out[:-1]))
        if self.block_sparse_kernels is None and \
                not kernels.worth_it(sparsity.density(), w.dtype == np.int8, useful):
            return None
        cached = self._packed_weights.get(id(op))
        if cached is None or cached[0] is not w:
            cached = (w, pack(w, sparsity.mask_array(), sparsity.block_shape))
            self._packed_weights[id(op)] = cached
        return cached[1]

    def _conv2d(self, op: tg.Conv2dOp, args) -> np.ndarray:
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
        geometry = (op.stride_hw, op.pads, op.dilation_hw, op.group_count)
        packed = self._packed(op, w)
        if packed is not None and x.dtype == w.dtype:  # the block-sparse kernel
            acc = layers.conv2d_block_sparse(x, packed, *geometry[:3])
            if not _is_int8(op):
                return acc + b if b is not None else acc
            q = op.quant
            acc_fix = q.input_positions[0] + q.weight_position
            return quant.requantize(acc + layers.align_bias(b, q.bias_position, acc_fix),
                                    acc_fix, q.output_position)
        if not _is_int8(op):
            return layers.conv2d_float(x, w, b, *geometry)
        q = op.quant
        return layers.conv2d_int8(x, w, b, *geometry, q.input_positions[0], q.weight_position,
                                  q.bias_position, q.output_position)

    def _matmul(self, op: tg.MatmulOp, args) -> np.ndarray:
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
        if not _is_int8(op):
            return layers.matmul_float(x, w, b)
        q = op.quant
        return layers.matmul_int8(x, w, b, q.input_positions[0], q.weight_position,
                                  q.bias_position, q.output_position)

    def _batch_matmul(self, op: tg.BatchMatmulOp, args) -> np.ndarray:
        if not _is_int8(op):
            return np.matmul(args[0], args[1])
        (a_fix, b_fix), out = op.quant.input_positions, op.quant.output_position
        return layers.batch_matmul_int8(args[0], args[1], a_fix, b_fix, out)

    def _softmax(self, op: tg.SoftmaxOp, args) -> np.ndarray:
        if not _is_int8(op):
            return layers.softmax_float(args[0])
        q = op.quant
        return layers.softmax_int8(args[0], q.input_positions[0], q.output_position)

    def _layer_norm(self, op: tg.LayerNormOp, args) -> np.ndarray:
        if not _is_int8(op):
            return layers.layer_norm_float(*args, op.eps)
        q = op.quant
        try:
            return layers.layer_norm_int8(*args, op.eps, q.input_positions[0],
                                          q.weight_position, q.bias_position,
                                          q.output_position)
        except OverflowError as error:
            raise BsirError(str(error), op_location(op)) from None

    def _pool_geometry(self, op) -> tuple:
        out = tg.tensor_shape(op.output)
        return op.kernel_hw, op.stride_hw, op.pads, out[1:3]

    def _maxpool(self, op: tg.MaxPool2dOp, args) -> np.ndarray:
        y = layers.maxpool(args[0], *self._pool_geometry(op))
        return self.requantize_same(op, y)

    def _avgpool(self, op: tg.AvgPool2dOp, args) -> np.ndarray:
        geometry = self._pool_geometry(op)
        if not _is_int8(op):
            return layers.avgpool_float(args[0], *geometry, op.includes_pad)
        q = op.quant
        return layers.avgpool_int8(args[0], *geometry, op.includes_pad, q.input_positions[0],
                                   q.output_position)

    def _global_avgpool(self, op: tg.GlobalAvgPoolOp, args) -> np.ndarray:
        if not _is_int8(op):
            return layers.global_avgpool_float(args[0])
        q = op.quant
        return layers.global_avgpool_int8(args[0], q.input_positions[0], q.output_position)

    _BINARY = {tg.AddOp: (np.add, layers.add_int8), tg.MulOp: (np.multiply, layers.mul_int8),
               tg.SubOp: (np.subtract, layers.sub_int8)}
    """Element-wise binary ops: (float function, int8 function of the fix positions)."""

    def _binary(self, op, args) -> np.ndarray:
        in_float, in_int8 = self._BINARY[type(op)]
        if not _is_int8(op):
            return in_float(args[0], args[1])
        (a_fix, b_fix), out = op.quant.input_positions, op.quant.output_position
        return in_int8(args[0], args[1], a_fix, b_fix, out)

    def _concat(self, op: tg.ConcatOp, args) -> np.ndarray:
        axis = op.axis.value.data
        if not _is_int8(op):
            return np.concatenate(args, axis=axis)
        out = op.quant.output_position
        parts = [quant.requantize(a, fix, out) for a, fix in zip(
            args, op.quant.input_positions, strict=True)]
        return np.concatenate(parts, axis=axis)

    def _slice(self, op: tg.SliceOp, args) -> np.ndarray:
        axis, start, stop, step = op.bounds
        return np.ascontiguousarray(np.take(args[0], range(start, stop, step), axis=axis))

    def _relu(self, op: tg.ReluOp, args) -> np.ndarray:
        return self.requantize_same(op, np.maximum(args[0], 0).astype(args[0].dtype))

    def _clip(self, op: tg.ClipOp, args) -> np.ndarray:
        lo, hi = op.bounds
        if _is_int8(op):
            fix = op.quant.input_positions[0]
            lo, hi = (int(quant.quantize(np.array(v), fix)) for v in (lo, hi))
        return self.requantize_same(op, np.clip(args[0], lo, hi).astype(args[0].dtype))

    def _table(self, op, args) -> np.ndarray:
        """A smooth element-wise function: float, or its int8 table (bsir.quant)."""
        if not _is_int8(op):
            return op.function(args[0].astype(np.float64)).astype(np.float32)
        table = quant.lookup_table(op.function, op.quant.input_positions[0],
                                   op.quant.output_position)
        return quant.apply_table(table, args[0])

    def _move_channels(self, op, args) -> np.ndarray:
        """A channel slice or shuffle: a copy of the channels it names, in their order."""
        return self.requantize_same(op, args[0][..., np.asarray(op.channel_map())])

    def requantize_same(self, op: Operation, y: np.ndarray) -> np.ndarray:
        """An exact op's int8 result moved to its output fix position, if different."""
        if not _is_int8(op):
            return y
        q = op.quant  # type: ignore[attr-defined]
        if q.input_positions[0] == q.output_position:
            return y
        return quant.requantize(y.astype(np.int64), q.input_positions[0], q.output_position)


def run_module(module: ModuleOp, weights: dict[str, np.ndarray],
               inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a module's graph once; see :class:`Executor`."""
    return Executor(module, weights).run(inputs)


def check_inputs(graph: tg.GraphOp, inputs: Sequence[np.ndarray]) -> None:
    """One array per graph input, each of the input's NHWC shape."""
    args = graph.block.args
    if len(inputs) != len(args):
        raise BsirError(f"the graph takes {len(args)} input(s), {len(inputs)} given")
    for index, (arg, array) in enumerate(zip(args, inputs, strict=True)):
        expected = tg.tensor_shape(arg)
        if np.shape(array) != expected:
            raise BsirError(f"input {index} has shape {list(np.shape(array))}, the graph "
                            f"expects {list(expected)} (NHWC)")


def random_inputs(module: ModuleOp, seed: int = 0, count: int = 1) -> list[list[np.ndarray]]:
    """``count`` sets of standard-normal float32 inputs shaped like the graph's inputs."""
    return random_arrays([tg.tensor_shape(arg) for arg in only_graph(module).block.args],
                         seed, count)


def random_arrays(shapes: Sequence[Sequence[int]], seed: int = 0, count: int = 1
                  ) -> list[list[np.ndarray]]:
    """:func:`random_inputs` for inputs of ``shapes``."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(tuple(shape), dtype=np.float32) for shape in shapes]
            for _ in range(count)]


__all__ = ["Executor", "check_inputs", "random_arrays", "random_inputs", "run_module"]
