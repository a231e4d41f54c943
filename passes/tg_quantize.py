"""``tg-quantize``: INT8 with power-of-two scales (paper section 3, Vitis AI style).

1. Calibration: the float graph runs on sample inputs (``calibration=inputs.npy``,
   one input or a stack of them; else ``samples`` standard-normal inputs from ``seed``)
   and every activation gets a fix position by ``method`` (``max``: the largest that
   does not overflow; ``mse``: of it and ``candidates`` positions above, the least
   squared error). Weights get theirs the same way; a bias is int32 at the fix of its
   accumulator (input fix + weight fix). No accumulator can overflow: for every output
   channel, 128 x the sum of its |int8 weights| + |its int32 bias| must fit int32 (the
   largest any int8 input can make it, and so the largest of any partial sum); where it
   does not, the weight fix position is lowered until it does (:func:`fit_accumulator`).
2. Rewrite: the graph keeps its f32 inputs and outputs; ``tg.quantize`` follows each
   input and ``tg.dequantize`` precedes each output, and every op between computes on
   i8 with a ``#tg.quant``. ReLU, clip and max pooling keep their input's fix position
   (exact, no requantization); flatten, reshape, transpose and slice only move bytes.
   A layer norm's weight is int8 and its bias int32 at a fix of its own; a softmax, a
   layer norm and the product of two activations compute exactly in integers
   (bsir.layers). A weight that an op reads as data (a class token, positional
   embeddings, a constant added or multiplied) is int8 at its own fix position.

Batch norms must be folded first (``tg-fold-batchnorm``). The int8 weights go to
``<weights>.int8.npz`` (or ``weights-out``). Rounding is bsir.quant's, everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from bsir import layers, quant
from bsir.arrays import read_input_array
from bsir.diagnostics import BsirError
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.executor import Executor, random_inputs
from bsir.weights import load_weights, save_derived_weights

EXACT_OPS = (tg.ReluOp, tg.ClipOp, tg.MaxPool2dOp, *tg.MOVE_CHANNEL_OPS)
"""Ops whose int8 output keeps the input's fix position."""

MOVE_OPS = tg.MOVE_OPS
"""Ops that only move bytes: no #tg.quant, the fix position passes through."""

BATCH_MATMUL_MAX_DEPTH = quant.INT32_MAX // (128 * 128)
"""The longest sum of int8 x int8 products that always fits int32."""

INTEGER_LIMITS = {
    tg.SoftmaxOp: (layers.SOFTMAX_MAX_ROW, "entries", "its row sum is int32"),
    tg.LayerNormOp: (layers.LAYER_NORM_MAX_FEATURES, "features",
                     "its sum of squares is int64"),
    tg.BatchMatmulOp: (BATCH_MATMUL_MAX_DEPTH, "products to sum", "its sums are int32"),
}
"""The longest last axis (of the first operand) each transformer op's INT8 arithmetic
takes without overflow: (limit, what it counts, why)."""


def norm_bias_fix(bias: np.ndarray, acc_fix: int) -> int:
    """A layer norm's int32 bias fix position: the accumulator's, or lower where the bias
    would not fit int32 there (it is shifted up to the accumulator when added)."""
    largest = float(np.max(np.abs(bias))) if bias.size else 0.0
    if largest * 2.0**acc_fix > layers.LAYER_NORM_MAX_BIAS:
        raise PassFailedException(
            f"tg-quantize: a layer norm bias of {largest:g} does not fit the integer layer "
            f"norm's accumulator at fix {acc_fix}")
    return min(acc_fix, quant.max_fix_position(largest, bits=32))


def calibration_inputs(module: ModuleOp, path: str, samples: int, seed: int
                       ) -> list[list[np.ndarray]]:
    """Input sets for calibration: from a .npy file, or random."""
    graph = only_graph(module)
    if not path:
        return random_inputs(module, seed, max(samples, 1))
    if len(graph.block.args) != 1:
        raise PassFailedException("tg-quantize: a calibration file needs a single-input graph")
    try:  # a path on the command line: relative to the working folder
        data = read_input_array(path, "calibration file")
    except BsirError as error:
        raise PassFailedException(f"tg-quantize: {error.message}") from None
    shape = tg.tensor_shape(graph.block.args[0])
    if data.shape == shape:
        return [[data.astype(np.float32)]]
    if data.shape[1:] == shape:
        return [[sample.astype(np.float32)] for sample in data]
    raise PassFailedException(
        f"tg-quantize: calibration data has shape {list(data.shape)}, expected {list(shape)} "
        f"or [S, {', '.join(map(str, shape))}]"
    )


def share_concat_fixes(graph: tg.GraphOp, fixes: dict[SSAValue, int]) -> None:
    """A concatenation's inputs are written in place into its buffer at its fix position;
    an input that another op reads too (DenseNet's features) must then already be at
    that fix position, or the other reader would see requantized values. For every such
    input, the input and the concatenation take the coarser of their fix positions, moved
    up through the exact ops (ReLU, clip, max pooling, channel moves) that pass their
    input's fix position on, until nothing changes (concatenations share inputs)."""
    concats = [op for op in graph.block.ops if isinstance(op, tg.ConcatOp)]

    def source(value: SSAValue) -> SSAValue:
        """The value whose fix position ``value`` keeps."""
        while isinstance(value.owner, EXACT_OPS):
            value = value.owner.operands[0]
        return value

    changed = True
    while changed:
        changed = False
        for concat in concats:
            shared = [v for v in concat.inputs if not v.has_one_use()]
            if not shared:
                continue
            group = [source(concat.output), *(source(v) for v in shared)]
            common = min(fixes[v] for v in group)
            for value in group:
                if fixes[value] != common:
                    fixes[value] = common
                    changed = True


def accumulator_bound(weight: np.ndarray, bias: np.ndarray | None, in_fix: int,
                      weight_fix: int) -> int:
    """The largest |accumulator| any int8 input can give a layer whose float ``weight``
    (output channels first) and ``bias`` are quantized at ``weight_fix`` (the bias at
    ``in_fix + weight_fix``, unsaturated): per output channel, 128 x the sum of its
    |int8 weights| + |its bias|. Every partial sum of the channel is within it too."""
    w = np.abs(quant.quantize(weight, weight_fix).astype(np.int64))
    per_channel = w.reshape(w.shape[0], -1).sum(axis=1) * 128
    if bias is not None:
        scaled = np.floor(np.asarray(bias, np.float64) * 2.0 ** (in_fix + weight_fix) + 0.5)
        per_channel = per_channel + np.abs(scaled)
    return int(per_channel.max()) if per_channel.size else 0


def fit_accumulator(weight: np.ndarray, bias: np.ndarray | None, in_fix: int,
                    weight_fix: int) -> int:
    """``weight_fix``, lowered as far as needed for :func:`accumulator_bound` to fit
    int32."""
    for _ in range(128):  # each step halves the bound, about
        if accumulator_bound(weight, bias, in_fix, weight_fix) <= quant.INT32_MAX:
            return weight_fix
        weight_fix -= 1
    raise PassFailedException("tg-quantize: no weight fix position keeps the accumulator "
                              "within int32")


def int32_bias(block, arrays: dict[str, np.ndarray], new_arrays: dict[str, np.ndarray],
               key: str, fix: int) -> SSAValue:
    """Bias ``key`` quantized to int32 at ``fix``, as a new weight op of ``block``."""
    new_arrays[key] = quant.quantize(arrays[key], fix, bits=32)
    bias = tg.WeightOp(key, tg.tensor_type(arrays[key].shape, tg.INT32))
    block.add_op(bias)
    return bias.result


@dataclass(frozen=True)
class TgQuantizePass(ModulePass):
    """Quantize a float tg graph to INT8 with power-of-two fix positions."""

    name = "tg-quantize"

    method: str = "mse"
    candidates: int = 3
    calibration: str = ""
    samples: int = 2
    seed: int = 0
    weights_out: str = ""
    inputs: tuple[tuple[np.ndarray, ...], ...] = field(
        default=(), init=False, repr=False, compare=False)
    """In-memory calibration input sets (Python only, see :meth:`calibrated_on`)."""

    def calibrated_on(self, inputs: Sequence[Sequence[np.ndarray]]) -> TgQuantizePass:
        """This pass, calibrating on ``inputs`` (a list of input sets, one array per graph
        input) held in memory instead of a file or random inputs."""
        copy = replace(self)
        object.__setattr__(copy, "inputs", tuple(tuple(sample) for sample in inputs))
        return copy

    def choose(self, values: np.ndarray) -> int:
        return quant.choose_fix_position(values, self.method, self.candidates)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check(op)
        inputs = ([list(sample) for sample in self.inputs] if self.inputs
                  else calibration_inputs(op, self.calibration, self.samples, self.seed))
        arrays = self.quantize(op, load_weights(op), inputs)
        save_derived_weights(op, arrays, "int8", self.weights_out)

    def quantize(self, module: ModuleOp, arrays: dict[str, np.ndarray],
                 inputs: list[list[np.ndarray]]) -> dict[str, np.ndarray]:
        """Quantize in memory, calibrated on ``inputs`` (a list of input sets); rewrites
        ``module`` and returns its int8 weights."""
        self.check(module)
        graph = only_graph(module)
        fixes = self.calibrate(module, arrays, inputs)
        share_concat_fixes(graph, fixes)
        new_graph, new_arrays = self.rewrite(graph, arrays, fixes)
        block = module.body.block
        block.insert_op_before(new_graph, graph)
        block.erase_op(graph)
        return new_arrays

    def check(self, module: ModuleOp) -> None:
        """Refuse bad options and graphs that cannot be quantized."""
        if self.method not in ("max", "mse"):
            raise PassFailedException(f"tg-quantize: unknown method '{self.method}' (max, mse)")
        graph = only_graph(module)
        names = tg.layer_names(graph)
        for layer in graph.block.ops:
            limit = INTEGER_LIMITS.get(type(layer))
            if limit is not None and tg.tensor_shape(layer.operands[0])[-1] > limit[0]:
                raise PassFailedException(
                    f"tg-quantize: {layer.name.split('.')[1]} '{names[layer]}' has "
                    f"{tg.tensor_shape(layer.operands[0])[-1]} {limit[1]} along its last "
                    f"axis; its INT8 form takes at most {limit[0]} ({limit[2]})")
            if isinstance(layer, tg.BatchNormOp):
                owner = layer.scale.owner
                name = owner.key.data if isinstance(owner, tg.WeightOp) else "?"
                rank = len(tg.tensor_shape(layer.input))
                hint = ("run tg-fold-batchnorm first" if rank == 4 else
                        "run tg-fold-batchnorm first; a batch norm on a 2-D tensor folds "
                        "only into a linear layer right before it")
                raise PassFailedException(
                    f"tg-quantize: the graph still has batch norm '{name}'; {hint}")
            if isinstance(layer, tg.QuantizeOp) or getattr(layer, "quant", None) is not None:
                raise PassFailedException("tg-quantize: the graph is already quantized")

    def calibrate(self, module: ModuleOp, arrays: dict[str, np.ndarray],
                  inputs: list[list[np.ndarray]]) -> dict[SSAValue, int]:
        """The fix position of every activation, from float runs on calibration inputs."""
        seen: dict[SSAValue, list[np.ndarray]] = {}

        def observe(value: SSAValue, array: np.ndarray) -> None:
            if not isinstance(value.owner, tg.WeightOp):
                seen.setdefault(value, []).append(array)

        executor = Executor(module, arrays)
        try:
            for input_set in inputs:
                executor.run(input_set, observe)
        except BsirError as error:
            raise PassFailedException(f"tg-quantize: calibration failed: {error}") from None
        try:
            return {value: self.choose(np.stack(runs)) for value, runs in seen.items()}
        except ValueError as error:
            raise PassFailedException(f"tg-quantize: {error}") from None

    def rewrite(self, graph: tg.GraphOp, arrays: dict[str, np.ndarray],
                fixes: dict[SSAValue, int]) -> tuple[tg.GraphOp, dict[str, np.ndarray]]:
        """A new int8 graph and its weights."""
        inputs = [arg.type for arg in graph.block.args]
        outputs = list(graph.function_type.outputs.data)
        new_graph = tg.GraphOp(graph.sym_name.data, inputs, outputs)
        block = new_graph.block
        mapped: dict[SSAValue, SSAValue] = {}
        fix_of: dict[SSAValue, int] = {}
        new_arrays: dict[str, np.ndarray] = {}
        weight_fix: dict[str, int] = {}
        fitted_weights: set[str] = set()  # weights whose fix an accumulator has fixed

        for old, new in zip(graph.block.args, block.args, strict=True):
            q = tg.QuantizeOp(new, fixes[old])
            block.add_op(q)
            mapped[old], fix_of[old] = q.output, fixes[old]

        roles = self.weight_roles(graph)
        for layer in graph.block.ops:
            if isinstance(layer, tg.WeightOp):
                key = layer.key.data
                role = roles.get(key)
                if role == "bias" or role is None:
                    continue  # a bias is made beside its layer; an unused weight goes
                weight_fix[key] = self.choose(arrays[key])
                new_arrays[key] = quant.quantize(arrays[key], weight_fix[key])
                new_weight = tg.WeightOp(key, tg.tensor_type(arrays[key].shape, tg.INT8))
                block.add_op(new_weight)
                mapped[layer.result] = new_weight.result
                if role == "data":  # read as an activation at its own fix position
                    fix_of[layer.result] = weight_fix[key]
            elif isinstance(layer, tg.OutputOp):
                results = []
                for value in layer.values:
                    dq = tg.DequantizeOp(mapped[value], fix_of[value])
                    block.add_op(dq)
                    results.append(dq.output)
                block.add_op(tg.OutputOp(results))
            else:
                self.rewrite_layer(layer, block, arrays, fixes, mapped, fix_of, new_arrays,
                                   weight_fix, fitted_weights)
        return new_graph, new_arrays

    @staticmethod
    def weight_roles(graph: tg.GraphOp) -> dict[str, str]:
        """What each weight is to the ops that read it: a layer's ``weight`` or ``bias``
        (conv, linear, layer norm), or ``data`` (any other operand)."""
        roles: dict[str, str] = {}
        for layer in graph.block.ops:
            if isinstance(layer, tg.WeightOp | tg.OutputOp):
                continue
            named = {}
            if isinstance(layer, (*tg.WEIGHTED_OPS, tg.LayerNormOp)):
                named = {layer.weight: "weight", layer.bias: "bias"}
            for value in layer.operands:
                if isinstance(value.owner, tg.WeightOp):
                    key, role = value.owner.key.data, named.get(value, "data")
                    if roles.setdefault(key, role) != role:
                        raise PassFailedException(
                            f"tg-quantize: '{key}' is read both as a {roles[key]} and "
                            f"as a {role}")
        return roles

    def rewrite_layer(self, layer: Operation, block, arrays, fixes, mapped, fix_of,
                      new_arrays, weight_fix, fitted_weights: set[str]) -> None:
        activations = [v for v in layer.operands if v in fix_of]
        in_fixes = [fix_of[v] for v in activations]
        result = layer.results[0]
        out_fix = in_fixes[0] if isinstance(layer, MOVE_OPS + EXACT_OPS) else fixes[result]
        operands = [mapped.get(v) for v in layer.operands]  # biases are made below
        properties = dict(layer.properties)
        if isinstance(layer, tg.WEIGHTED_OPS):
            w_key = layer.weight.owner.key.data  # type: ignore[union-attr]
            bias_op = None if layer.bias is None else layer.bias.owner
            b_key = None if bias_op is None else bias_op.key.data  # type: ignore[union-attr]
            fitted = fit_accumulator(arrays[w_key], None if b_key is None else arrays[b_key],
                                     in_fixes[0], weight_fix[w_key])
            if fitted != weight_fix[w_key]:
                if w_key in fitted_weights:
                    raise PassFailedException(
                        f"tg-quantize: weight '{w_key}' is shared by layers whose "
                        "accumulators need different fix positions")
                weight_fix[w_key] = fitted
                new_arrays[w_key] = quant.quantize(arrays[w_key], fitted)
            fitted_weights.add(w_key)
            acc_fix = in_fixes[0] + weight_fix[w_key]
            bias_fix = None
            if b_key is not None:
                bias_fix = acc_fix
                operands[2] = int32_bias(block, arrays, new_arrays, b_key, bias_fix)
            properties["quant"] = tg.QuantAttr.get(in_fixes, out_fix, weight_fix[w_key],
                                                   bias_fix)
        elif isinstance(layer, tg.LayerNormOp):
            w_key = layer.weight.owner.key.data  # type: ignore[union-attr]
            b_key = layer.bias.owner.key.data  # type: ignore[union-attr]
            bias_fix = norm_bias_fix(arrays[b_key], layers.LAYER_NORM_BITS + weight_fix[w_key])
            operands[2] = int32_bias(block, arrays, new_arrays, b_key, bias_fix)
            properties["quant"] = tg.QuantAttr.get(in_fixes, out_fix, weight_fix[w_key],
                                                   bias_fix)
        elif not isinstance(layer, MOVE_OPS):
            properties["quant"] = tg.QuantAttr.get(in_fixes, out_fix)
        new = type(layer).create(
            operands=operands,
            result_types=[tg.tensor_type(tg.tensor_shape(result), tg.INT8)],
            properties=properties,
            attributes=dict(layer.attributes),
        )
        block.add_op(new)
        mapped[result], fix_of[result] = new.results[0], out_fix
