"""ONNX export of a float tg graph (the inverse of :mod:`bsir.onnx_import`).

NHWC activations become NCHW, convolution weights COUT x CIN x KH x KW, linear layers
Gemm with ``transB = 1``. A flatten of an N x H x W x C tensor orders features (H, W, C)
in tg and (C, H, W) in ONNX, so the columns of the linear layer reading it are permuted
back: importing the exported file gives the same graph and weights. Quantized graphs are
refused (export before ``tg-quantize``).
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from bsir.diagnostics import BsirError, op_location
from bsir.dialects import tg
from bsir.dialects.tg import only_graph
from bsir.files import write_atomically

OPSET = 17


def export_onnx(module: ModuleOp, weights: dict[str, np.ndarray], path: str) -> None:
    """Write the module's graph with ``weights`` to an ONNX file."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise BsirError("ONNX export needs the 'onnx' extra: pip install 'bsir[onnx]'") from None
    graph = only_graph(module)
    names: dict[SSAValue, str] = {}
    perms: dict[SSAValue, np.ndarray] = {}
    nodes, inits = [], []

    def name(value: SSAValue) -> str:
        return names[value]

    def init(key: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), key))
        return key

    def nchw(shape) -> list[int]:
        return [shape[0], shape[3], shape[1], shape[2]] if len(shape) == 4 else list(shape)

    inputs = []
    for index, arg in enumerate(graph.block.args):
        names[arg] = f"input{index}" if index else "input"
        inputs.append(helper.make_tensor_value_info(names[arg], TensorProto.FLOAT,
                                                    nchw(tg.tensor_shape(arg))))
    for index, op in enumerate(graph.block.ops):
        if isinstance(op, tg.WeightOp | tg.OutputOp):
            continue
        if getattr(op, "quant", None) is not None or isinstance(op, tg.QuantizeOp):
            raise BsirError("only float graphs can be exported to ONNX", op_location(op))
        out = f"t{index}"
        names[op.results[0]] = out
        kind = op.name.split(".", 1)[1]

        def key(value: SSAValue) -> str:
            return value.owner.key.data  # type: ignore[union-attr]

        if isinstance(op, tg.Conv2dOp):
            w = weights[key(op.weight)].transpose(0, 3, 1, 2)
            ins = [name(op.input), init(key(op.weight), w)]
            if op.bias is not None:
                ins.append(init(key(op.bias), weights[key(op.bias)]))
            nodes.append(helper.make_node(
                "Conv", ins, [out], name=out, kernel_shape=list(w.shape[2:]),
                strides=list(op.stride_hw), pads=list(op.pads),
                dilations=list(op.dilation_hw), group=op.group_count))
        elif isinstance(op, tg.MatmulOp):
            w = weights[key(op.weight)]
            if op.input in perms:
                onnx_w = np.empty_like(w)
                onnx_w[:, perms[op.input]] = w
                w = onnx_w
            ins = [name(op.input), init(key(op.weight), w)]
            if op.bias is not None:
                ins.append(init(key(op.bias), weights[key(op.bias)]))
            nodes.append(helper.make_node("Gemm", ins, [out], name=out, transB=1))
        elif isinstance(op, tg.MaxPool2dOp | tg.AvgPool2dOp):
            attrs = {"kernel_shape": list(op.kernel_hw), "strides": list(op.stride_hw),
                     "pads": list(op.pads), "ceil_mode": int(op.is_ceil_mode)}
            if isinstance(op, tg.AvgPool2dOp):
                attrs["count_include_pad"] = int(op.includes_pad)
            onnx_op = "MaxPool" if isinstance(op, tg.MaxPool2dOp) else "AveragePool"
            nodes.append(helper.make_node(onnx_op, [name(op.input)], [out], name=out, **attrs))
        elif isinstance(op, tg.GlobalAvgPoolOp):
            nodes.append(helper.make_node("GlobalAveragePool", [name(op.input)], [out], name=out))
        elif isinstance(op, tg.AddOp):
            nodes.append(helper.make_node("Add", [name(op.lhs), name(op.rhs)], [out], name=out))
        elif isinstance(op, tg.ConcatOp):
            rank = len(tg.tensor_shape(op.output))
            axis = {3: 1, 1: 2, 2: 3, 0: 0}[op.axis.value.data] if rank == 4 \
                else op.axis.value.data
            nodes.append(helper.make_node("Concat", [name(v) for v in op.inputs], [out],
                                          name=out, axis=axis))
        elif isinstance(op, tg.ReluOp):
            nodes.append(helper.make_node("Relu", [name(op.input)], [out], name=out))
        elif isinstance(op, tg.ClipOp):
            lo, hi = op.bounds
            ins = [name(op.input), init(f"{out}.min", np.array(lo, np.float32)),
                   init(f"{out}.max", np.array(hi, np.float32))]
            nodes.append(helper.make_node("Clip", ins, [out], name=out))
        elif isinstance(op, tg.FlattenOp):
            shape = tg.tensor_shape(op.input)
            if len(shape) == 4 and shape[1] * shape[2] > 1:
                _, h, w, c = shape
                perms[op.output] = np.arange(c * h * w).reshape(c, h, w).transpose(
                    1, 2, 0).reshape(-1)
            nodes.append(helper.make_node("Flatten", [name(op.input)], [out], name=out, axis=1))
        elif isinstance(op, tg.BatchNormOp):
            ins = [name(op.input)] + [init(key(v), weights[key(v)]) for v in
                                      (op.scale, op.shift, op.mean, op.variance)]
            nodes.append(helper.make_node("BatchNormalization", ins, [out], name=out,
                                          epsilon=op.eps))
        else:
            raise BsirError(f"ONNX export does not support '{kind}'", op_location(op))
    outputs = []
    for value in graph.output.values:
        if value in perms:
            raise BsirError("a graph output is a flattened NHWC tensor; ONNX orders it "
                            "differently")
        outputs.append(helper.make_tensor_value_info(name(value), TensorProto.FLOAT,
                                                     nchw(tg.tensor_shape(value))))
    onnx_graph = helper.make_graph(nodes, graph.sym_name.data, inputs, outputs, inits)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="bsir")
    model.ir_version = 8
    write_atomically(path, lambda stream: stream.write(model.SerializeToString()))
