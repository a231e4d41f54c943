"""ONNX import: an ONNX CNN (NCHW) becomes a tg graph (NHWC) and its weights.

Supported nodes: Conv, Gemm, MatMul, Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Mul
(``x * Sigmoid(x)`` becomes SiLU; otherwise of one shape, or by a per-channel gate
broadcast over H and W), Sub (likewise, the per-channel value second), Pad (zeros on H
and W, folded into the Conv reading it), Slice and Split of the channels, a channel
shuffle (Reshape to [N, groups, C / groups, H, W], Transpose [0, 2, 1, 3, 4], Reshape
back), MaxPool, AveragePool, GlobalAveragePool, Add, Concat, Flatten, Reshape,
BatchNormalization, plus the inference no-ops Identity and Dropout and Constant.
4-D activations are converted to NHWC, so a 4-D graph input or output of the imported
graph is NHWC.

Transformers (torch.export's graphs of torchvision's ViT): any Reshape and Transpose,
Unsqueeze, Squeeze, Gather of one index (the class token, one of a packed query, key and
value), MatMul of two activations (``tg.batch_matmul``) and over the last axis of tokens
(a linear layer over their rows, the leading axes restored by a reshape; an Add of a
bias after it becomes its bias), Add and Mul of a constant broadcast to the activation
(positions, attention's scale), Softmax and LayerNormalization over the last axis,
Gelu, and a Concat of a constant class token. What opsets before 17 and 20 spell out —
layer norm as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, GELU with Erf — is
fused into one node first (:func:`fuse_patterns`). A 4-D tensor such ops make (heads x
tokens x features) stays in ONNX's axis order; where it meets an image op, or an image
meets a transformer op, a ``tg.transpose`` converts between the two layouts.

Before conversion, the subgraphs that compute constants are folded by onnxscript's
constant folder (:func:`fold_constants`): what exporters leave behind — an Identity on a
deduplicated initializer, the Shape -> Gather -> Unsqueeze -> Concat chain that feeds a
Reshape its target shape, a Cast of a constant — becomes plain initializers.
Convolution weights become COUT x KH x KW x CIN and linear weights COUT x CIN.

A Flatten of an N x C x H x W tensor orders features as (C, H, W) in ONNX but as
(H, W, C) in tg; the importer permutes the columns of the linear layer that consumes
it, so the imported graph computes exactly what the ONNX graph computes.

Block sparsity: a model trained with ``bsir.train`` comes with ``net.masks.npz``
beside ``net.onnx`` (Gamma and block shape per weight initializer); each masked layer
gets its ``#tg.sparsity`` from it, after checking that the weights are zero wherever
Gamma drops a block. Without that file the importer finds the all-zero blocks of every
weight at a given block shape (8x8 by default) and marks the layers that have any.
Either way ``bsir compile`` needs no re-sparsification.

Requires the ``onnx`` extra. Every failure names the offending node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue
from xdsl.utils.exceptions import VerifyException

from bsir import sparsity
from bsir.arrays import NpzReader, open_npz
from bsir.diagnostics import BsirError
from bsir.dialects import tg
from bsir.files import note_input
from bsir.models.builder import GraphBuilder


@dataclass
class _Value:
    """An imported activation: its tg value and, after a 4-D flatten, the permutation
    from tg feature order to ONNX feature order (``onnx_index = perm[tg_index]``).

    A 4-D tensor is an NCHW image kept NHWC, as tg's convolutions want it, unless
    ``onnx_order``: a 4-D tensor of a transformer (heads x tokens x features) kept in
    ONNX's own axis order. Tensors of other ranks are always in ONNX's order."""

    ssa: SSAValue
    perm: np.ndarray | None = None
    onnx_order: bool = False


NHWC_TO_NCHW = (0, 3, 1, 2)
"""The axes of an NHWC tensor in NCHW order (tg.transpose's ``perm``)."""
NCHW_TO_NHWC = (0, 2, 3, 1)
"""The axes of an NCHW tensor in NHWC order."""


def _gate_shape(shape: tuple[int, ...]) -> list[int]:
    """The N x 1 x 1 x C gate shape of an N x H x W x C tensor (the shape itself if not
    4-D)."""
    return [shape[0], 1, 1, shape[3]] if len(shape) == 4 else list(shape)


def _nchw_to_nhwc(shape: list[int]) -> list[int]:
    n, c, h, w = shape
    return [n, h, w, c]


@dataclass
class SparsitySource:
    """Where the importer takes block sparsity from: saved masks (by initializer name),
    else the zero blocks at ``block`` when ``detect``."""

    masks: dict[str, tuple[tuple[int, int], np.ndarray]] | None = None
    block: tuple[int, int] = (8, 8)
    detect: bool = True


def read_masks(path: str) -> dict[str, tuple[tuple[int, int], np.ndarray]]:
    """``name:gamma`` / ``name:block`` arrays of a masks file, by weight name."""
    with open_npz(path, "masks file") as archive:
        reader = NpzReader(archive, path)
        arrays = {key: reader[key] for key in reader}
    masks = {}
    for key, gamma in arrays.items():
        name, _, kind = key.rpartition(":")
        if kind == "block":
            continue
        block = arrays.get(f"{name}:block")
        if kind != "gamma" or block is None or block.shape != (2,) or gamma.ndim != 2:
            raise BsirError(f"{path}: '{key}' is not a mask (expected NAME:gamma, a 2-D "
                            "array, beside NAME:block, two sizes)")
        masks[name] = ((int(block[0]), int(block[1])), gamma.astype(bool))
    return masks


class OnnxImporter:
    """Converts one ONNX graph; call :meth:`run`."""

    def __init__(self, model, name: str, source: SparsitySource | None = None):
        from onnx import numpy_helper

        self.source = source or SparsitySource(detect=False)
        self.notes: list[str] = []
        self.unused_masks = set(self.source.masks or ())
        self.model = model
        self.graph = model.graph
        self.name = name
        self.consts: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in self.graph.initializer
        }
        self.values: dict[str, _Value] = {}
        self.relaid: dict[tuple[SSAValue, tuple[int, ...]], SSAValue] = {}
        """A 4-D activation in the other layout (NHWC <-> ONNX's order), made once however
        many nodes read it so."""
        self.padded: dict[str, tuple[SSAValue, list[int]]] = {}
        """Zero Pad outputs, folded into the Conv that reads them: (source, [top, left,
        bottom, right])."""
        self.grouped: dict[str, tuple[SSAValue, int, bool]] = {}
        """A channel shuffle under way: [N, groups, C / groups, H, W] views of an
        activation (source, groups, transposed yet)."""
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        for value in self.graph.output:
            self.consumers[value.name] = self.consumers.get(value.name, 0) + 1
        self.node = None

    # ---------------------------------------------------------------- helpers

    def fail(self, message: str) -> BsirError:
        node = self.node
        if node is None:
            return BsirError(f"ONNX model '{self.name}': {message}")
        label = node.name or (node.output[0] if node.output else "?")
        return BsirError(f"ONNX node '{label}' ({node.op_type}): {message}")

    def attrs(self) -> dict[str, object]:
        from onnx import helper

        out: dict[str, object] = {}
        for attr in self.node.attribute:
            value = helper.get_attribute_value(attr)
            out[attr.name] = value.decode() if isinstance(value, bytes) else value
        return out

    def act(self, name: str) -> _Value:
        if name in self.values:
            return self.values[name]
        if name in self.padded:
            raise self.fail(f"input '{name}' is a zero Pad, supported only as a Conv's input")
        if name in self.consts:
            raise self.fail(f"input '{name}' is a constant where an activation is expected")
        raise self.fail(f"input '{name}' is not produced by any supported node")

    def const(self, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise self.fail(f"{what} '{name}' must be an initializer or a Constant")
        return self.consts[name]

    def weight(self, key: str, value: np.ndarray) -> SSAValue:
        base, suffix = key, 1
        while base in self.builder.arrays:
            base = f"{key}#{suffix}"
            suffix += 1
        return self.builder.constant(base, np.ascontiguousarray(value, dtype=np.float32))

    def rank(self, value: _Value) -> int:
        return len(tg.tensor_shape(value.ssa))

    def plain(self, name: str) -> SSAValue:
        """An activation as the image ops read it (a 4-D tensor NHWC)."""
        value = self.act(name)
        if value.perm is not None:
            raise self.fail(
                f"input '{name}' is a flattened N x C x H x W tensor; only a Gemm/MatMul "
                "(or an elementwise op before it) may consume it"
            )
        if value.onnx_order and self.rank(value) == 4:
            return self.relaid_as(value.ssa, NCHW_TO_NHWC)
        return value.ssa

    def relaid_as(self, value: SSAValue, perm: tuple[int, ...]) -> SSAValue:
        """``value`` transposed by ``perm`` into the other layout, built once."""
        if (value, perm) not in self.relaid:  # one value may be read both ways
            self.relaid[value, perm] = self.transposed(value, perm)
        return self.relaid[value, perm]

    def transposed(self, value: SSAValue, perm: tuple[int, ...] | list[int]) -> SSAValue:
        """``value`` transposed by ``perm``: a transpose of a transpose is one, or none
        where they cancel (ConvNeXt's permutes between its channels-last layer norms and
        its convolutions); one left without readers is dropped when the import ends."""
        shape = tg.tensor_shape(value)
        if sorted(perm) != list(range(len(shape))):
            return self.build(tg.TransposeOp(value, perm))  # refuses, saying why
        owner = value.owner
        if isinstance(owner, tg.TransposeOp):
            composed = [owner.axes[p] for p in perm]
            if composed == list(range(len(shape))):
                return owner.input
            value, perm = owner.input, composed
            shape = tg.tensor_shape(value)
        moved = [axis for axis in perm if shape[axis] != 1]
        if moved == sorted(moved):  # only axes of one move: the bytes stay in order
            return self.build(tg.ReshapeOp(value, [shape[axis] for axis in perm]))
        if len(shape) > 4 or (len(shape) == 4 and perm[0] != 0):
            # a batch of one moved, or five axes or more (ViT's packed query, key and
            # value: [1, T, 1, 3, D] to [3, T, 1, 1, D]): the same transpose of the
            # axes longer than one, between two views, so that the array holds the
            # tensors as they are (3 x T x D, not 3T x 1 x D: see hwc_of_shape)
            kept = sorted(moved)
            squeezed = self.build(tg.ReshapeOp(value, [shape[axis] for axis in kept]))
            inner = self.build(tg.TransposeOp(squeezed, [kept.index(a) for a in moved]))
            return self.build(tg.ReshapeOp(inner, [shape[axis] for axis in perm]))
        return self.build(tg.TransposeOp(value, perm))

    def in_onnx_order(self, name: str) -> SSAValue:
        """An activation with ONNX's axes (an NHWC image transposed back to NCHW): what
        the ops of a transformer read."""
        value = self.act(name)
        if value.perm is not None:
            raise self.fail(f"input '{name}' is a flattened N x C x H x W tensor; only a "
                            "Gemm/MatMul may consume it")
        if self.rank(value) == 4 and not value.onnx_order:
            return self.relaid_as(value.ssa, NHWC_TO_NCHW)
        return value.ssa

    def define_onnx_order(self, value: SSAValue) -> None:
        """Define the node's output as a tensor in ONNX's axis order."""
        self.values[self.node.output[0]] = _Value(value, None, True)

    def broadcast_const(self, name: str, like: _Value) -> SSAValue:
        """The constant ``name`` broadcast to the shape of the activation ``like``, as a
        weight stored as ``like`` is (NHWC for an image)."""
        shape = tg.tensor_shape(like.ssa)
        onnx_shape = shape if self.rank(like) != 4 or like.onnx_order \
            else tuple(shape[axis] for axis in NHWC_TO_NCHW)
        try:
            value = np.broadcast_to(self.const(name, "operand"), onnx_shape)
        except ValueError:
            raise self.fail(f"constant '{name}' of shape {list(self.consts[name].shape)} does "
                            f"not broadcast to {list(onnx_shape)}") from None
        if self.rank(like) == 4 and not like.onnx_order:
            value = value.transpose(NCHW_TO_NHWC)
        return self.weight(name, value)

    def build(self, op) -> SSAValue:
        return self.builder.append(op)

    # ---------------------------------------------------------------- graph

    def graph_inputs(self) -> list[tuple[str, list[int]]]:
        inputs = []
        for value in self.graph.input:
            if value.name in self.consts:
                continue
            tensor = value.type.tensor_type
            if tensor.elem_type != 1:  # TensorProto.FLOAT
                raise self.fail(f"graph input '{value.name}' must be float32")
            dims = []
            for index, dim in enumerate(tensor.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    dims.append(dim.dim_value)
                elif index == 0:
                    dims.append(1)  # a symbolic batch becomes 1
                    self.notes.append(f"graph input '{value.name}' has a dynamic batch "
                                      "dimension; bsir compiles it for batch 1")
                else:
                    raise self.fail(
                        f"graph input '{value.name}' has a dynamic dimension {index}"
                    )
            if len(dims) not in (2, 4):
                raise self.fail(f"graph input '{value.name}' must be 2-D or 4-D (NCHW)")
            inputs.append((value.name, _nchw_to_nhwc(dims) if len(dims) == 4 else dims))
        if not inputs:
            raise self.fail("the graph has no non-constant input")
        return inputs

    def run(self) -> tuple[ModuleOp, dict[str, np.ndarray]]:
        inputs = self.graph_inputs()
        graph_name = "".join(c if c.isalnum() or c == "_" else "_" for c in self.name) or "net"
        self.builder = GraphBuilder(graph_name, inputs[0][1], f"{graph_name}.npz",
                                    [shape for _, shape in inputs[1:]])
        for (name, _), arg in zip(inputs, self.builder.inputs, strict=True):
            self.values[name] = _Value(arg)
        for node in self.graph.node:
            self.node = node
            if node.op_type != "Constant" and node.input and \
                    all(name in self.consts for name in node.input if name):
                self.fold_node()  # what the constant folder left: Swin's window masks
                continue
            handler = getattr(self, f"op_{node.op_type}", None)
            domains = GELU_DOMAINS if node.op_type == "Gelu" else ("", "ai.onnx")
            if handler is None or node.domain not in domains:
                raise self.fail("unsupported operator")
            try:
                handler()
            except VerifyException as error:  # shape rules of the tg op constructors
                raise self.fail(str(error)) from None
        self.node = None
        outputs = []
        for value in self.graph.output:
            if value.name not in self.values:
                raise self.fail(f"graph output '{value.name}' is not computed")
            if self.values[value.name].perm is not None:
                raise self.fail(f"graph output '{value.name}' is a flattened NCHW tensor")
            outputs.append(self.plain(value.name))  # a 4-D output NHWC, as the input
        if self.unused_masks:
            raise self.fail(f"masks name weights that no Conv, Gemm or MatMul uses: "
                            f"{', '.join(sorted(self.unused_masks))}")
        built = self.builder.finish(*outputs)
        block = self.builder.graph.block
        for op in reversed(list(block.ops)):  # relayouts that others replaced
            if isinstance(op, tg.TransposeOp | tg.ReshapeOp) and not op.output.uses:
                block.erase_op(op)
        return built.module, built.arrays

    def fold_node(self) -> None:
        """Compute a node whose inputs are all constants with onnx's reference evaluator
        (the constant folder leaves some, as ConstantOfShape and ScatterND chains)."""
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        node = self.node
        inputs = [name for name in node.input if name]
        graph = helper.make_graph(
            [node], "fold", [],
            [helper.make_tensor_value_info(name, 0, None) for name in node.output if name],
            [numpy_helper.from_array(np.asarray(self.consts[name]), name) for name in inputs])
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        try:
            results = ReferenceEvaluator(model).run(None, {})
        except Exception as error:  # the evaluator's own error, reported
            raise self.fail(f"cannot compute it from its constant inputs: {error}") from None
        for name, value in zip([n for n in node.output if n], results, strict=True):
            self.consts[name] = np.asarray(value)

    def define(self, value: SSAValue, perm: np.ndarray | None = None) -> None:
        self.values[self.node.output[0]] = _Value(value, perm)

    # ---------------------------------------------------------------- nodes

    def op_Constant(self) -> None:
        from onnx import numpy_helper

        attrs = self.node.attribute
        kinds = {"value_float": np.float32, "value_floats": np.float32,
                 "value_int": np.int64, "value_ints": np.int64}
        if len(attrs) == 1 and attrs[0].name == "value":
            self.consts[self.node.output[0]] = numpy_helper.to_array(attrs[0].t)
        elif len(attrs) == 1 and attrs[0].name in kinds:
            value = self.attrs()[attrs[0].name]
            self.consts[self.node.output[0]] = np.array(value, kinds[attrs[0].name])
        else:
            raise self.fail("only tensor- and number-valued Constant nodes are supported")

    def op_Identity(self) -> None:
        self.values[self.node.output[0]] = self.act(self.node.input[0])

    op_Dropout = op_Identity

    def op_Pad(self) -> None:
        """Zero padding of H and W, folded into the convolution that reads it (the only
        consumer it may have): a padded tensor is never made."""
        a = self.attrs()
        inputs = list(self.node.input)
        mode = a.get("mode", "constant")
        pads = [int(v) for v in (self.const(inputs[1], "pads").reshape(-1)
                                 if len(inputs) > 1 and inputs[1] else a.get("pads", []))]
        value = float(self.const(inputs[2], "constant_value").reshape(-1)[0]) \
            if len(inputs) > 2 and inputs[2] else float(a.get("value", 0.0))
        if mode == "constant" and not any(pads):  # by nothing (Swin's windows that fit)
            self.values[self.node.output[0]] = self.act(self.node.input[0])
            return
        x = self.plain(self.node.input[0])
        if mode != "constant" or value != 0.0 or len(pads) != 8 or any(pads[i] for i in
                                                                      (0, 1, 4, 5)):
            raise self.fail("only zero padding of H and W (before a Conv) is supported")
        if min(pads) < 0:
            raise self.fail("negative pads (cropping) are not supported")
        self.padded[self.node.output[0]] = (x, [pads[2], pads[3], pads[6], pads[7]])

    def op_Conv(self) -> None:
        a = self.attrs()
        if self.node.input[0] in self.padded:  # a zero Pad just before: the conv pads
            x, extra = self.padded[self.node.input[0]]
        else:
            x, extra = self.plain(self.node.input[0]), [0, 0, 0, 0]
        if self.rank(_Value(x)) != 4:
            raise self.fail("only 2-D convolutions (4-D NCHW inputs) are supported")
        w = self.const(self.node.input[1], "weight")
        if w.ndim != 4:
            raise self.fail(f"weight must be 4-D, got {w.ndim}-D")
        bias = None
        if len(self.node.input) > 2 and self.node.input[2]:
            bias = self.weight(self.node.input[2], self.const(self.node.input[2], "bias"))
        kh, kw = w.shape[2:]
        if list(a.get("kernel_shape", [kh, kw])) != [kh, kw]:
            raise self.fail("kernel_shape disagrees with the weight")
        stride = list(a.get("strides", [1, 1]))
        dilation = list(a.get("dilations", [1, 1]))
        pads = self.resolve_pads(a, tg.tensor_shape(x), (kh, kw), stride, dilation)
        pads = [p + e for p, e in zip(pads, extra, strict=True)]
        w = w.transpose(0, 2, 3, 1)
        conv = tg.Conv2dOp(x, self.weight(self.node.input[1], w), bias, stride=stride,
                           pad=pads, dilation=dilation, groups=int(a.get("group", 1)))
        self.mark_sparsity(conv, self.node.input[1], w)
        self.define(self.build(conv))

    def resolve_pads(self, attrs: dict, shape: tuple[int, ...], kernel: tuple[int, int],
                     stride: list[int], dilation: list[int]) -> list[int]:
        """ONNX pads [top, left, bottom, right], from ``pads`` or ``auto_pad``."""
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", "VALID"):
            pads = list(attrs.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
            if len(pads) != 4:
                raise self.fail(f"pads must have 4 values, got {len(pads)}")
            return pads
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.fail(f"unknown auto_pad '{auto}'")
        out = []
        for size, k, s, d in zip(shape[1:3], kernel, stride, dilation, strict=True):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        (top, bottom), (left, right) = out
        return [top, left, bottom, right]

    def _linear(self, x: _Value, w: np.ndarray, bias: np.ndarray | None, key: str,
                bias_key: str) -> None:
        """``y = x @ w.T + bias`` with ``w`` COUT x K in ONNX feature order."""
        if self.rank(x) != 2:
            raise self.fail("the activation of a linear layer must be 2-D")
        if x.perm is not None:
            w = w[:, x.perm]
        weight = self.weight(key, w)
        b = None if bias is None else self.weight(bias_key, bias.reshape(-1))
        matmul = tg.MatmulOp(x.ssa, weight, b)
        self.mark_sparsity(matmul, key, w, x.perm)
        self.define(self.build(matmul))

    def mark_sparsity(self, op: tg.Conv2dOp | tg.MatmulOp, key: str, weight: np.ndarray,
                      perm: np.ndarray | None = None) -> None:
        """Give ``op`` its ``#tg.sparsity`` (``weight`` in tg layout, ``perm`` its
        column order after a flatten) from the saved masks or from its zero blocks."""
        source = self.source
        if source.masks is not None:
            if key not in source.masks:
                return
            self.unused_masks.discard(key)
            block, gamma = source.masks[key]
            shape = weight.shape
            if gamma.shape != sparsity.grid_shape(shape, block):
                raise self.fail(f"the mask of '{key}' has {gamma.shape[0]}x{gamma.shape[1]} "
                                f"blocks of {block[0]}x{block[1]}; the weight needs "
                                "{}x{}".format(*sparsity.grid_shape(shape, block)))
            if perm is not None:  # Gamma is over ONNX's columns: re-block in tg order
                kept = sparsity.expand_mask(gamma, block, shape)[:, perm]
                gamma = sparsity.mask_of_zero_blocks(kept, block)
            dropped = ~np.broadcast_to(sparsity.expand_mask(gamma, block, weight.shape),
                                       weight.shape)
            if np.any(weight[dropped] != 0):
                raise self.fail(f"weight '{key}' is non-zero in blocks its mask drops")
        elif source.detect:
            block = source.block
            gamma = sparsity.mask_of_zero_blocks(weight, block)
            if gamma.all():
                return
        else:
            return
        op.properties["sparsity"] = tg.SparsityAttr.from_mask(block, gamma)

    def op_Gemm(self) -> None:
        a = self.attrs()
        if a.get("transA", 0):
            raise self.fail("transA=1 is not supported")
        x = self.act(self.node.input[0])
        w = self.const(self.node.input[1], "B")
        if w.ndim != 2:
            raise self.fail("B must be 2-D")
        w = w if a.get("transB", 0) else w.T
        w = w * np.float32(a.get("alpha", 1.0))
        bias, bias_key = None, ""
        if len(self.node.input) > 2 and self.node.input[2]:
            bias_key = self.node.input[2]
            bias = self.const(bias_key, "C") * np.float32(a.get("beta", 1.0))
            if bias.size != w.shape[0]:
                raise self.fail(f"C must have {w.shape[0]} values (one per output)")
        self._linear(x, w, bias, self.node.input[1], bias_key)

    def op_MatMul(self) -> None:
        """A linear layer (B a 2-D constant; over the last axis of tokens), or the product
        of two activations (attention's Q K^T and A V, one per leading index)."""
        lhs, rhs = self.node.input[:2]
        if rhs not in self.consts:
            product = tg.BatchMatmulOp(self.in_onnx_order(lhs), self.in_onnx_order(rhs))
            self.define_onnx_order(self.build(product))
            return
        x = self.act(lhs)
        w = self.const(rhs, "B")
        if w.ndim != 2:
            raise self.fail("B must be 2-D")
        if self.rank(x) == 2:
            self._linear(x, w.T, None, rhs, "")
            return
        # tokens: the rows of one linear layer, the leading axes restored after it
        tokens = self.in_onnx_order(lhs)
        shape = tg.tensor_shape(tokens)
        rows = self.build(tg.ReshapeOp(tokens, (int(np.prod(shape[:-1])), shape[-1])))
        matmul = tg.MatmulOp(rows, self.weight(rhs, w.T), None)
        self.mark_sparsity(matmul, rhs, w.T)
        out = self.build(matmul)
        self.define_onnx_order(self.build(tg.ReshapeOp(out, (*shape[:-1], w.shape[1]))))

    def op_Add(self) -> None:
        lhs, rhs = self.node.input[:2]
        if lhs in self.consts or rhs in self.consts:
            act_name, const_name = (rhs, lhs) if lhs in self.consts else (lhs, rhs)
            if self.fuses_bias(act_name, const_name):
                self.add_bias(act_name, const_name)
                return
            x = self.act(act_name)
            if x.perm is not None:
                self.add_bias(act_name, const_name)  # refuses, saying why
            summed = tg.AddOp(x.ssa, self.broadcast_const(const_name, x))
            self.values[self.node.output[0]] = _Value(self.build(summed), None, x.onnx_order)
            return
        if self.act(lhs).onnx_order and self.act(rhs).onnx_order:
            a, b = self.in_onnx_order(lhs), self.in_onnx_order(rhs)
            if tg.tensor_shape(a) != tg.tensor_shape(b):
                raise self.fail("broadcasting Add is not supported (operands differ in shape)")
            self.define_onnx_order(self.build(tg.AddOp(a, b)))
            return
        # an image (NHWC) is one of them: the sum is one too (ConvNeXt's residual, whose
        # other operand is back from channels last: read NHWC, no transpose is left)
        a, b = self.plain(lhs), self.plain(rhs)
        if tg.tensor_shape(a) != tg.tensor_shape(b):
            raise self.fail("broadcasting Add is not supported (operands differ in shape)")
        self.define(self.build(tg.AddOp(a, b)))

    def _bias_target(self, act_name: str) -> tuple[tg.MatmulOp, tg.ReshapeOp | None] | None:
        """The bias-less linear layer whose output ``act_name`` is (through the reshape
        that restores a token tensor's leading axes), if nothing else reads it."""
        producer = self.act(act_name).ssa.owner
        restore = None
        if isinstance(producer, tg.ReshapeOp) and not producer.output.uses:
            restore, producer = producer, producer.input.owner
            if not (isinstance(producer, tg.MatmulOp) and producer.output.has_one_use()):
                return None
        if isinstance(producer, tg.MatmulOp) and producer.bias is None \
                and self.consumers.get(act_name, 0) == 1:
            return producer, restore
        return None

    def fuses_bias(self, act_name: str, const_name: str) -> bool:
        """Is ``act + const`` the bias of the linear layer producing ``act`` (one value
        per output feature)?"""
        target = self._bias_target(act_name)
        if target is None or const_name not in self.consts:
            return False
        const = self.consts[const_name]
        cout = tg.tensor_shape(target[0].output)[1]
        return const.size == cout and const.shape[-1:] == (cout,)

    def add_bias(self, act_name: str, const_name: str) -> None:
        """``MatMul`` + ``Add(bias)`` becomes one linear layer with a bias."""
        target = self._bias_target(act_name)
        if target is None:
            raise self.fail(
                "adding a constant is supported only as the bias of a MatMul it alone uses"
            )
        producer, restore = target
        bias = self.const(const_name, "bias").reshape(-1)
        cout = tg.tensor_shape(producer.output)[1]
        if bias.size != cout:
            raise self.fail(f"bias must have {cout} values")
        block = self.builder.graph.block
        b = self.weight(const_name, bias)
        assert isinstance(b.owner, tg.WeightOp)
        block.detach_op(b.owner)
        block.insert_op_before(b.owner, producer)
        fused = tg.MatmulOp(producer.input, producer.weight, b)
        if producer.sparsity is not None:
            fused.properties["sparsity"] = producer.sparsity
        block.insert_op_before(fused, producer)
        if restore is None:
            block.erase_op(producer)
            self.define(fused.output)
            return
        restored = tg.ReshapeOp(fused.output, tg.tensor_shape(restore.output))
        block.insert_op_before(restored, restore)
        block.erase_op(restore)
        block.erase_op(producer)
        self.define_onnx_order(restored.output)

    def _elementwise(self, op) -> None:
        source = self.act(self.node.input[0])
        self.values[self.node.output[0]] = _Value(self.build(op(source.ssa)), source.perm,
                                                  source.onnx_order)

    def op_Relu(self) -> None:
        self._elementwise(tg.ReluOp)

    def op_Sigmoid(self) -> None:
        self._elementwise(tg.SigmoidOp)

    def op_HardSigmoid(self) -> None:
        a = self.attrs()
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        self._elementwise(lambda x: tg.HardSigmoidOp(x, alpha, beta))

    def op_HardSwish(self) -> None:
        self._elementwise(tg.HardSwishOp)

    def op_Mul(self) -> None:
        """``x * sigmoid(x)`` (SiLU, as exporters write it) is one ``tg.silu``; other
        products of two activations of one shape, or of a tensor and a per-channel gate
        (squeeze-and-excitation), a ``tg.mul``."""
        a, b = self.node.input[0], self.node.input[1]
        if a in self.consts or b in self.consts:  # a scale (attention's 1 / sqrt(d))
            self.multiply_by_constant(*((b, a) if a in self.consts else (a, b)))
            return
        for x_name, s_name in ((a, b), (b, a)):
            gate = self.values.get(s_name)
            source = self.values.get(x_name)
            if gate is None or source is None:
                continue
            sigmoid = gate.ssa.owner
            if isinstance(sigmoid, tg.SigmoidOp) and sigmoid.input is source.ssa:
                self.define(self.build(tg.SiluOp(source.ssa)), source.perm)
                if not sigmoid.output.uses and self.consumers.get(s_name, 0) == 1:
                    sigmoid.parent_block().erase_op(sigmoid)  # type: ignore[union-attr]
                return
        lhs, rhs = self.plain(a), self.plain(b)
        if tg.tensor_shape(lhs) != tg.tensor_shape(rhs) and \
                tg.tensor_shape(lhs) == tuple(_gate_shape(tg.tensor_shape(rhs))):
            lhs, rhs = rhs, lhs  # the gate second
        self.define(self.build(tg.MulOp(lhs, rhs)))

    def multiply_by_constant(self, act_name: str, const_name: str) -> None:
        """``act * const``: by a per-channel gate for an image's per-channel constant,
        else by the constant broadcast to the activation's shape."""
        x = self.act(act_name)
        if x.perm is not None:
            raise self.fail("a product with a constant after a flatten is not supported")
        const = self.consts[const_name]
        if self.rank(x) == 4 and const.size > 1 and const.ndim >= 3 \
                and const.shape[-2:] == (1, 1):  # per channel of an NCHW image: a gate
            image = self.plain(act_name)
            channels = tg.tensor_shape(image)[3]
            if const.size != channels:
                raise self.fail(f"constant '{const_name}' has {const.size} values, the "
                                f"image {channels} channels")
            gate = self.weight(const_name, const.reshape(1, 1, 1, channels))
            self.define(self.build(tg.MulOp(image, gate)))
            return
        shape = tg.tensor_shape(x.ssa)
        if const.size and len(shape) >= 2 and (const == const.flat[0]).all():
            # one value (attention's 1 / sqrt(d), which the constant folder may have
            # spread over a whole tensor): a per-channel gate, as the array computes it
            gate = self.weight(const_name, np.full((1,) * (len(shape) - 1) + shape[-1:],
                                                   const.flat[0], np.float32))
            self.values[self.node.output[0]] = _Value(self.build(tg.MulOp(x.ssa, gate)),
                                                      None, x.onnx_order)
            return
        product = tg.MulOp(x.ssa, self.broadcast_const(const_name, x))
        self.values[self.node.output[0]] = _Value(self.build(product), None, x.onnx_order)

    def op_Div(self) -> None:
        """Division by a constant (attention's scores by sqrt(d)): a product with its
        reciprocal."""
        divisor = self.node.input[1]
        if divisor not in self.consts:
            raise self.fail("only a division by a constant is supported")
        reciprocal = f"{divisor}.reciprocal"
        self.consts[reciprocal] = (1.0 / self.consts[divisor].astype(np.float64)).astype(
            np.float32)
        self.multiply_by_constant(self.node.input[0], reciprocal)

    def op_Sub(self) -> None:
        """A difference of two activations of one shape, or minus a per-channel value."""
        self.define(self.build(tg.SubOp(self.plain(self.node.input[0]),
                                        self.plain(self.node.input[1]))))

    def op_Clip(self) -> None:
        a = self.attrs()
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        inputs = list(self.node.input)
        if len(inputs) > 1 and inputs[1]:
            lo = float(self.const(inputs[1], "min"))
        if len(inputs) > 2 and inputs[2]:
            hi = float(self.const(inputs[2], "max"))
        self._elementwise(lambda x: tg.ClipOp(x, float(lo), float(hi)))

    def _pool_params(self) -> tuple[list[int], list[int], list[int], bool]:
        a = self.attrs()
        kernel = list(a["kernel_shape"]) if "kernel_shape" in a else None
        if kernel is None or len(kernel) != 2:
            raise self.fail("kernel_shape must give two sizes")
        if list(a.get("dilations", [1, 1])) != [1, 1]:
            raise self.fail("dilated pooling is not supported")
        if a.get("storage_order", 0):
            raise self.fail("storage_order=1 is not supported")
        stride = list(a.get("strides", [1, 1]))
        x = self.plain(self.node.input[0])
        pads = self.resolve_pads(a, tg.tensor_shape(x), tuple(kernel), stride, [1, 1])
        return kernel, stride, pads, bool(a.get("ceil_mode", 0))

    def op_MaxPool(self) -> None:
        if len(self.node.output) > 1 and self.node.output[1]:
            raise self.fail("the Indices output is not supported")
        kernel, stride, pads, ceil = self._pool_params()
        x = self.plain(self.node.input[0])
        self.define(self.build(tg.MaxPool2dOp(x, kernel, stride, pads, ceil)))

    def op_AveragePool(self) -> None:
        kernel, stride, pads, ceil = self._pool_params()
        include = bool(self.attrs().get("count_include_pad", 0))
        x = self.plain(self.node.input[0])
        self.define(self.build(tg.AvgPool2dOp(x, kernel, stride, pads, ceil, include)))

    def op_GlobalAveragePool(self) -> None:
        x = self.plain(self.node.input[0])
        if self.rank(_Value(x)) != 4:
            raise self.fail("input must be 4-D")
        self.define(self.build(tg.GlobalAvgPoolOp(x)))

    def op_ReduceMean(self) -> None:
        """A mean over H and W (how exporters spell global average pooling)."""
        x = self.plain(self.node.input[0])
        if self.rank(_Value(x)) != 4:
            raise self.fail("only a mean over H and W of a 4-D tensor is supported")
        a = self.attrs()
        if len(self.node.input) > 1 and self.node.input[1]:
            axes = [int(v) for v in self.const(self.node.input[1], "axes").reshape(-1)]
        else:
            axes = [int(v) for v in a.get("axes", [])]
        if sorted(axis % 4 for axis in axes) != [2, 3]:
            raise self.fail(f"only a mean over H and W (axes 2, 3) is supported, got {axes}")
        pooled = self.build(tg.GlobalAvgPoolOp(x))
        if int(a.get("keepdims", 1)):
            self.define(pooled)
        else:
            self.define(self.build(tg.FlattenOp(pooled)))

    def op_Concat(self) -> None:
        names = list(self.node.input)
        if any(name in self.consts or self.act(name).onnx_order for name in names):
            # a transformer's class token before its tokens: every input in ONNX's order
            values = [self.weight(name, self.consts[name]) if name in self.consts
                      else self.in_onnx_order(name) for name in names]
            rank = len(tg.tensor_shape(values[0]))
            axis = int(self.attrs().get("axis", 1))
            self.define_onnx_order(self.build(tg.ConcatOp(values, axis % rank)))
            return
        values = [self.plain(name) for name in names]
        rank = len(tg.tensor_shape(values[0]))
        axis = int(self.attrs().get("axis", 1))
        axis = axis + rank if axis < 0 else axis
        if rank == 4:
            axis = {0: 0, 1: 3, 2: 1, 3: 2}[axis]
        self.define(self.build(tg.ConcatOp(values, axis)))

    def _flatten(self, source: _Value) -> None:
        shape = tg.tensor_shape(source.ssa)
        if source.perm is not None or len(shape) == 2:
            self.values[self.node.output[0]] = source
            return
        if len(shape) != 4:
            raise self.fail(f"cannot flatten a rank-{len(shape)} tensor")
        _, h, w, c = shape
        perm = None
        if h * w > 1:
            perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        self.define(self.build(tg.FlattenOp(source.ssa)), perm)

    def op_Flatten(self) -> None:
        if int(self.attrs().get("axis", 1)) != 1:
            raise self.fail("only Flatten with axis=1 is supported")
        self._flatten(self.act(self.node.input[0]))

    def op_Reshape(self) -> None:
        target = [int(d) for d in self.const(self.node.input[1], "shape").reshape(-1)]
        pending = self.grouped.pop(self.node.input[0], None)
        if pending is not None:  # the last step of a channel shuffle
            source, groups, transposed = pending
            n, h, w, c = tg.tensor_shape(source)
            if not transposed or target not in ([n, c, h, w], [n, -1, h, w], [0, -1, h, w]):
                raise self.fail("a grouped channel view is supported only as a channel "
                                "shuffle (Reshape, Transpose [0, 2, 1, 3, 4], Reshape)")
            self.define(self.build(tg.ChannelShuffleOp(source, groups)))
            return
        source = self.act(self.node.input[0])
        shape = tg.tensor_shape(source.ssa)
        if len(shape) == 4 and len(target) == 5 and source.perm is None:
            n, h, w, c = shape
            groups = target[1]
            if target[0] in (0, n) and groups > 0 and c % groups == 0 and \
                    target[2] in (c // groups, -1) and target[3:] == [h, w]:
                self.grouped[self.node.output[0]] = (source.ssa, groups, False)
                return
        if source.perm is not None:
            shape = (shape[0], int(np.prod(shape[1:])))
        total = int(np.prod(shape))
        batch = shape[0]
        onnx_shape = shape if len(shape) != 4 or source.onnx_order or source.perm is not None \
            else tuple(shape[axis] for axis in NHWC_TO_NCHW)
        allow_zero = int(self.attrs().get("allowzero", 0))
        for axis, dim in enumerate(target):
            if dim == 0 and not allow_zero and axis < len(onnx_shape):
                target[axis] = onnx_shape[axis]  # 0: the input's size of that axis
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = total // known if known else 0
        image = source.perm is not None or (len(shape) in (2, 4) and not source.onnx_order)
        if len(target) == 2 and target[0] == batch and target[0] * target[1] == total \
                and image:
            self._flatten(source)  # an image's features for a linear layer
            return
        if source.perm is not None:
            raise self.fail(f"a flattened N x C x H x W tensor can only be read by a linear "
                            f"layer, not reshaped to {target}")
        x = self.in_onnx_order(self.node.input[0])
        if int(np.prod(target)) != total or min(target) < 1:
            raise self.fail(f"cannot reshape {list(tg.tensor_shape(x))} to {target}")
        self.define_onnx_order(self.build(tg.ReshapeOp(x, target)))

    def op_Transpose(self) -> None:
        """The middle step of a channel shuffle ([0, 2, 1, 3, 4] of a grouped view), or
        any permutation of a tensor's axes (a transformer's heads and tokens)."""
        pending = self.grouped.pop(self.node.input[0], None)
        perm = list(self.attrs().get("perm", []))
        if pending is not None:
            if perm != [0, 2, 1, 3, 4] or pending[2]:
                raise self.fail("a grouped channel view is transposed only as a channel "
                                "shuffle ([0, 2, 1, 3, 4] of [N, groups, C / groups, H, W])")
            self.grouped[self.node.output[0]] = (pending[0], pending[1], True)
            return
        x = self.in_onnx_order(self.node.input[0])
        perm = perm or list(reversed(range(len(tg.tensor_shape(x)))))
        self.define_onnx_order(self.transposed(x, perm))

    def _axes(self, what: str) -> list[int] | None:
        """The node's axes, from its second input (opset 13 on) or its attribute."""
        if len(self.node.input) > 1 and self.node.input[1]:
            return [int(v) for v in self.const(self.node.input[1], what).reshape(-1)]
        axes = self.attrs().get("axes")
        return None if axes is None else [int(v) for v in axes]

    def op_Shape(self) -> None:
        """An activation's shape is known here (every shape is static): a constant, which
        the nodes computing with it then fold."""
        source = self.act(self.node.input[0])
        shape = tg.tensor_shape(source.ssa)
        if self.rank(source) == 4 and not source.onnx_order:
            shape = tuple(shape[axis] for axis in NHWC_TO_NCHW)
        if source.perm is not None:
            raise self.fail("the shape of a flattened N x C x H x W tensor is not supported")
        a = self.attrs()
        start, end = int(a.get("start", 0)), a.get("end")
        dims = shape[start:] if end is None else shape[start:int(end)]
        self.consts[self.node.output[0]] = np.array(dims, np.int64)

    def op_Unsqueeze(self) -> None:
        x = self.in_onnx_order(self.node.input[0])
        shape = list(tg.tensor_shape(x))
        axes = self._axes("axes") or []
        rank = len(shape) + len(axes)
        for axis in sorted(a % rank for a in axes):
            shape.insert(axis, 1)
        self.define_onnx_order(self.build(tg.ReshapeOp(x, shape)))

    def op_Squeeze(self) -> None:
        x = self.in_onnx_order(self.node.input[0])
        shape = tg.tensor_shape(x)
        axes = self._axes("axes")
        drop = {a % len(shape) for a in axes} if axes is not None \
            else {a for a, d in enumerate(shape) if d == 1}
        if any(shape[a] != 1 for a in drop):
            raise self.fail(f"cannot squeeze axes {sorted(drop)} of {list(shape)}")
        kept = [d for a, d in enumerate(shape) if a not in drop]
        self.define_onnx_order(self.build(tg.ReshapeOp(x, kept)))

    def op_Gather(self) -> None:
        """One index along an axis (a transformer's class token, or one of its packed
        query, key and value): a slice, the axis dropped for a scalar index."""
        x = self.in_onnx_order(self.node.input[0])
        shape = tg.tensor_shape(x)
        indices = self.const(self.node.input[1], "indices")
        if len(shape) == 1 and np.array_equal(indices.reshape(-1), np.arange(shape[0])):
            # every element in order: a reshape (how torch.export writes as_strided)
            self.define_onnx_order(self.build(tg.ReshapeOp(x, indices.shape)))
            return
        if indices.size != 1:
            raise self.fail("only a Gather of one index, or of every element of a vector "
                            "in order, is supported")
        axis = int(self.attrs().get("axis", 0)) % len(shape)
        index = int(indices.reshape(-1)[0]) % shape[axis]
        taken = self.build(tg.SliceOp(x, axis, index, index + 1))
        if indices.ndim == 0:
            taken = self.build(tg.ReshapeOp(taken, shape[:axis] + shape[axis + 1:]))
        self.define_onnx_order(taken)

    def op_Softmax(self) -> None:
        x = self.in_onnx_order(self.node.input[0])
        rank = len(tg.tensor_shape(x))
        if int(self.attrs().get("axis", -1)) % rank != rank - 1:
            raise self.fail("only a softmax over the last axis is supported")
        self.define_onnx_order(self.build(tg.SoftmaxOp(x)))

    def op_LayerNormalization(self) -> None:
        x = self.in_onnx_order(self.node.input[0])
        shape = tg.tensor_shape(x)
        a = self.attrs()
        if int(a.get("axis", -1)) % len(shape) != len(shape) - 1:
            raise self.fail("only a layer norm over the last axis is supported")
        if len(self.node.output) > 1 and any(self.node.output[1:]):
            raise self.fail("the Mean and InvStdDev outputs are not supported")
        scale = self.const(self.node.input[1], "scale").reshape(-1)
        bias = self.const(self.node.input[2], "B").reshape(-1) \
            if len(self.node.input) > 2 and self.node.input[2] else np.zeros_like(scale)
        norm = tg.LayerNormOp(x, self.weight(self.node.input[1], scale),
                              self.weight(self.node.input[2] or "layer_norm.bias", bias),
                              float(a.get("epsilon", 1e-5)))
        self.define_onnx_order(self.build(norm))

    def op_Tanh(self) -> None:
        self._elementwise(tg.TanhOp)

    def op_Einsum(self) -> None:
        """The two products of attention as einsum writes them: ``...ik,...kj->...ij``
        and ``...ik,...jk->...ij`` (the second operand transposed), over the same
        leading axes."""
        equation = str(self.attrs().get("equation", "")).replace(" ", "")
        operands, _, out = equation.partition("->")
        terms = operands.split(",")
        if len(terms) != 2 or len(self.node.input) != 2:
            raise self.fail(f"only a product of two operands is supported, got '{equation}'")
        lhs, rhs = terms
        batch = lhs[:-2]
        if not (len(lhs) == len(rhs) == len(out) >= 2 and rhs[:-2] == batch
                and out[:-2] == batch and len(set(lhs)) == len(lhs)):
            raise self.fail(f"only batched matrix products are supported, got '{equation}'")
        (i, k), (e, f) = lhs[-2:], out[-2:]
        a, b = self.in_onnx_order(self.node.input[0]), self.in_onnx_order(self.node.input[1])
        if (i, rhs[-2:]) == (e, k + f) and k not in out:
            pass
        elif (i, rhs[-2:]) == (e, f + k) and k not in out:
            rank = len(rhs)
            b = self.transposed(b, [*range(rank - 2), rank - 1, rank - 2])
        else:
            raise self.fail(f"only '...ik,...kj->...ij' and '...ik,...jk->...ij' products "
                            f"are supported, got '{equation}'")
        self.define_onnx_order(self.build(tg.BatchMatmulOp(a, b)))

    def op_Gelu(self) -> None:
        tanh = self.attrs().get("approximate", "none") == "tanh"
        self._elementwise(lambda x: tg.GeluOp(x, tanh))

    def _channel_slices(self, bounds: list[tuple[int, int]]) -> None:
        x = self.plain(self.node.input[0])
        if len(tg.tensor_shape(x)) != 4:
            raise self.fail("only channel slices of an N x C x H x W tensor are supported")
        for output, (start, stop) in zip(self.node.output, bounds, strict=True):
            self.values[output] = _Value(self.build(tg.ChannelSliceOp(x, start, stop)))

    def _split_sizes(self, length: int) -> list[tuple[int, int]]:
        """The [start, stop) of each output of a Split of ``length`` elements."""
        count = len(self.node.output)
        if len(self.node.input) > 1 and self.node.input[1]:
            sizes = [int(v) for v in self.const(self.node.input[1], "split").reshape(-1)]
        elif "split" in self.attrs():
            sizes = [int(v) for v in self.attrs()["split"]]
        else:
            sizes = [-(-length // count)] * count
            sizes[-1] = length - sum(sizes[:-1])
        edges = np.cumsum([0, *sizes])
        return [(int(a), int(b)) for a, b in pairwise(edges)]

    def op_Split(self) -> None:
        """A split of an image's channels (channel slices), or of any axis of a tensor in
        ONNX's order (a transformer's packed query, key and value)."""
        source = self.act(self.node.input[0])
        axis = int(self.attrs().get("axis", 0))
        if self.rank(source) == 4 and not source.onnx_order and axis in (1, -3):
            x = self.plain(self.node.input[0])
            self._channel_slices(self._split_sizes(tg.tensor_shape(x)[-1]))
            return
        x = self.in_onnx_order(self.node.input[0])
        axis %= len(tg.tensor_shape(x))
        for output, (start, stop) in zip(self.node.output,
                                         self._split_sizes(tg.tensor_shape(x)[axis]),
                                         strict=True):
            self.values[output] = _Value(self.build(tg.SliceOp(x, axis, start, stop)), None,
                                         True)

    def op_Slice(self) -> None:
        """Channels of an image (a channel slice), or slices of any axes of a tensor in
        ONNX's order (Swin's shifted windows, every other row of its patch merging)."""
        source = self.act(self.node.input[0])
        inputs = list(self.node.input)
        starts, ends = (self.const(inputs[i], what).reshape(-1)
                        for i, what in ((1, "starts"), (2, "ends")))
        axes = self.const(inputs[3], "axes").reshape(-1) if len(inputs) > 3 and inputs[3] \
            else np.arange(len(starts))
        steps = self.const(inputs[4], "steps").reshape(-1) if len(inputs) > 4 and inputs[4] \
            else np.ones(len(starts), np.int64)
        if any(int(step) < 1 for step in steps):
            raise self.fail("only slices of positive step are supported")
        if self.rank(source) == 4 and not source.onnx_order and list(steps) == [1] \
                and list(axes) in ([1], [-3]):
            x = self.plain(self.node.input[0])
            start, stop, _ = slice(int(starts[0]), int(ends[0])).indices(tg.tensor_shape(x)[3])
            self._channel_slices([(start, stop)])
            return
        x = self.in_onnx_order(self.node.input[0])
        for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
            size = tg.tensor_shape(x)
            axis = int(axis) % len(size)
            first, stop, _ = slice(int(start), int(end)).indices(size[axis])
            if (first, stop, int(step)) != (0, size[axis], 1):
                x = self.build(tg.SliceOp(x, axis, first, stop, int(step)))
        self.define_onnx_order(x)

    def op_BatchNormalization(self) -> None:
        x = self.plain(self.node.input[0])
        params = [
            self.weight(name, self.const(name, what).reshape(-1))
            for name, what in zip(self.node.input[1:5], ("scale", "B", "mean", "var"),
                                  strict=True)
        ]
        eps = float(self.attrs().get("epsilon", 1e-5))
        self.define(self.build(tg.BatchNormOp(x, *params, epsilon=eps)))


FOLD_SIZE_LIMIT = 1 << 28
"""Elements of the largest tensor the constant folder may read or make (a weight passed
through an Identity or a Cast is folded whatever its size)."""


def fold_constants(model):
    """``model`` with its constant subgraphs folded into initializers and the nodes that
    fed only them removed, by onnxscript's constant folder (no other rewrite: bsir
    converts what the exporter wrote). Without onnxscript the model is returned as it is.

    onnxscript's folder works on ONNX's own IR, infers shapes (so the Shape of an
    activation is a constant), evaluates a node with ONNX's reference implementation
    when its inputs are constant, and knows the shape ops exporters emit;
    onnxruntime's offline optimiser would fold too but may fuse nodes into its own
    operators, and onnx's reference evaluator alone would leave the graph surgery to us."""
    if not has_constant_subgraphs(model.graph):
        return model  # nothing to fold: skip the round trip through onnxscript's IR
    try:
        import onnx_ir
        from onnxscript import optimizer
    except ImportError:
        return model
    ir_model = onnx_ir.serde.deserialize_model(model)
    optimizer.fold_constants(ir_model, onnx_shape_inference=True,
                             input_size_limit=FOLD_SIZE_LIMIT,
                             output_size_limit=FOLD_SIZE_LIMIT)
    optimizer.remove_unused_nodes(ir_model)
    return onnx_ir.serde.serialize_model(ir_model)


def _layer_norm_pattern(op, x, two, epsilon, scale, bias):
    """Layer norm as opsets before 17 write it."""
    mean = op.ReduceMean(x, _allow_other_attributes=True, _outputs=["mean"])
    deviation = op.Sub(x, mean)
    variance = op.ReduceMean(op.Pow(deviation, two), _allow_other_attributes=True,
                             _outputs=["variance"])
    normalized = op.Div(deviation, op.Sqrt(op.Add(variance, epsilon)))
    return op.Add(op.Mul(normalized, scale), bias)


def _over_last_axis(node, rank: int | None) -> bool:
    """Does the ReduceMean ``node`` average the last axis alone, keeping it?"""
    axes = node.attributes.get("axes")
    if axes is not None:
        values = list(axes.as_ints())
    elif len(node.inputs) > 1 and node.inputs[1] is not None \
            and node.inputs[1].const_value is not None:
        values = [int(v) for v in node.inputs[1].const_value.numpy().reshape(-1)]
    else:
        return False
    keepdims = node.attributes.get("keepdims")
    last = values == [-1] or (rank is not None and [v % rank for v in values] == [rank - 1])
    return last and (keepdims is None or keepdims.as_int() == 1)


def _layer_norm_condition(context, x, two, epsilon, scale, bias, mean, variance, **_) -> bool:
    constants = [value.const_value for value in (two, epsilon, scale, bias)]
    if any(constant is None for constant in constants):
        return False
    two, epsilon, scale, bias = (constant.numpy() for constant in constants)
    rank = None if x.shape is None else len(x.shape)
    return two.size == 1 and float(two.reshape(-1)[0]) == 2.0 and epsilon.size == 1 \
        and scale.size == bias.size and _over_last_axis(mean.producer(), rank) \
        and _over_last_axis(variance.producer(), rank)


def _layer_norm(op, x, two, epsilon, scale, bias, **_):
    eps = float(epsilon.const_value.numpy().reshape(-1)[0])
    return op.LayerNormalization(x, scale, bias, axis=-1, epsilon=eps)


def fuse_patterns(model):
    """``model`` with what opsets before 20 spell out made one node: GELU (``x * 0.5 *
    (1 + Erf(x / sqrt 2))``, in either order of the products) by onnxscript's own fusion
    rules (their Gelu is in Microsoft's domain, with ONNX's meaning), and layer norm
    (ReduceMean, Sub, Pow 2, ReduceMean, Add epsilon, Sqrt, Div, Mul, Add over the last
    axis; before opset 17) by a pattern of ours on onnxscript's matcher, as ONNX's
    LayerNormalization. Without onnxscript, or such nodes, the model is returned as it
    is."""
    kinds = {node.op_type for node in model.graph.node}
    if not kinds & {"Erf", "Pow"}:
        return model
    try:
        import onnx_ir
        from onnxscript.rewriter import pattern
        from onnxscript.rewriter.ort_fusions import erfgelu
    except ImportError:
        return model
    ir_model = onnx_ir.serde.deserialize_model(model)
    # GELU's rules with their products commuted too: TorchScript multiplies by 1/2 last
    rules = [*erfgelu.rules.rules,
             pattern.RewriteRule(_layer_norm_pattern, _layer_norm, _layer_norm_condition)]
    pattern.RewriteRuleSet(rules, commute=True).apply_to_model(ir_model)
    return onnx_ir.serde.serialize_model(ir_model)


GELU_DOMAINS = ("", "ai.onnx", "com.microsoft")
"""Domains whose Gelu the importer reads (ONNX's, from opset 20; :func:`fuse_patterns`'s)."""


def has_constant_subgraphs(graph) -> bool:
    """Whether some node computes a constant: a Shape, or a node (other than Constant)
    whose inputs are all initializers or constants."""
    constant = {init.name for init in graph.initializer}
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type == "Shape" or (node.op_type != "Constant" and inputs
                                       and all(name in constant for name in inputs)):
            return True
        if node.op_type == "Constant":
            constant.update(node.output)
    return False


def _check_opsets(model, path: str) -> None:
    """Refuse operator sets newer than the installed onnx package knows."""
    from onnx.defs import onnx_opset_version

    newest = onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise BsirError(f"{path} uses ONNX opset {opset.version}; the newest this "
                            f"installation knows is {newest}")


def masks_beside(path: str) -> str | None:
    """``net.masks.npz`` beside ``net.onnx``, if there is one."""
    stem, _ = os.path.splitext(path)
    candidate = f"{stem}.masks.npz"
    return candidate if os.path.exists(candidate) else None


def import_onnx(path: str, source: SparsitySource | None = None,
                notes: list[str] | None = None) -> tuple[ModuleOp, dict[str, np.ndarray]]:
    """Read an ONNX file; returns the tg module and its weights (keyed as in the IR).

    ``source`` says where block sparsity comes from; by default the masks beside the
    model, else the 8x8 zero blocks of each weight. What the import decided for the
    user (a dynamic batch taken as 1) is appended to ``notes``."""
    if source is None:
        beside = masks_beside(path)
        source = SparsitySource(read_masks(beside)) if beside else SparsitySource()
    try:
        import onnx
    except ImportError:
        raise BsirError("ONNX import needs the 'onnx' extra: pip install 'bsir[onnx]'") from None
    note_input(path)
    try:
        model = onnx.load(path)
    except FileNotFoundError:
        raise BsirError(f"no such file: {path}") from None
    except Exception as error:
        raise BsirError(f"{path} is not a readable ONNX model: {error}") from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "invalid"
        raise BsirError(f"{path} is not a valid ONNX model: {first}") from None
    except UnicodeDecodeError:  # the checker's messages quote the model's own strings
        raise BsirError(f"{path} is not a valid ONNX model: a name is not UTF-8") from None
    _check_opsets(model, path)
    try:
        model = fold_constants(model)
    except Exception as error:  # the folder refuses a graph onnx's checker let through
        raise BsirError(f"{path}: its constant subgraphs cannot be folded: {error}") from None
    try:
        model = fuse_patterns(model)
    except Exception as error:  # the rewriter's own failure, on a graph the checker passed
        raise BsirError(f"{path}: its GELU or layer norm patterns cannot be fused: "
                        f"{error}") from None
    name = model.graph.name
    if isinstance(name, bytes):  # protobuf hands back a name that is not UTF-8 as bytes
        name = name.decode("utf-8", "replace")
    name = name or os.path.splitext(os.path.basename(path))[0]
    importer = OnnxImporter(model, name, source)
    module, arrays = importer.run()
    if notes is not None:
        notes.extend(importer.notes)
    from bsir.ir import verify_module

    verify_module(module)
    return module, arrays
