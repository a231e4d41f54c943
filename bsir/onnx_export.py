"""ONNX export of a float tg graph (the inverse of :mod:`bsir.onnx_import`).

NHWC activations become NCHW, convolution weights COUT x CIN x KH x KW, linear layers
Gemm with ``transB = 1``. A flatten of an N x H x W x C tensor orders features (H, W, C)
in tg and (C, H, W) in ONNX, so the columns of the linear layer reading it are permuted
back: importing the exported file gives the same graph and weights. Quantized graphs are
refused (export before ``tg-quantize``). Every tensor's shape is written (``value_info``),
and every node has a name of its own (``conv2d_3``), distinct from the tensors' names
(``t3``), so that tools that read ONNX without running shape inference, or that index
nodes by name, read the file as it is.
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
    nodes, inits, shapes = [], [], []

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
        node_name = f"{kind}_{index}"  # unique, and never a tensor's name
        shapes.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                    nchw(tg.tensor_shape(op.results[0]))))

        def key(value: SSAValue) -> str:
            return value.owner.key.data  # type: ignore[union-attr]

        def emit(op_type: str, ins: list[str], out: str = out, node_name: str = node_name,
                 **attrs) -> None:
            nodes.append(helper.make_node(op_type, ins, [out], name=node_name, **attrs))

        if isinstance(op, tg.Conv2dOp):
            w = weights[key(op.weight)].transpose(0, 3, 1, 2)
            ins = [name(op.input), init(key(op.weight), w)]
            if op.bias is not None:
                ins.append(init(key(op.bias), weights[key(op.bias)]))
            emit("Conv", ins, kernel_shape=list(w.shape[2:]), strides=list(op.stride_hw),
                 pads=list(op.pads), dilations=list(op.dilation_hw), group=op.group_count)
        elif isinstance(op, tg.MatmulOp):
            w = weights[key(op.weight)]
            if op.input in perms:
                onnx_w = np.empty_like(w)
                onnx_w[:, perms[op.input]] = w
                w = onnx_w
            ins = [name(op.input), init(key(op.weight), w)]
            if op.bias is not None:
                ins.append(init(key(op.bias), weights[key(op.bias)]))
            emit("Gemm", ins, transB=1)
        elif isinstance(op, tg.MaxPool2dOp | tg.AvgPool2dOp):
            attrs = {"kernel_shape": list(op.kernel_hw), "strides": list(op.stride_hw),
                     "pads": list(op.pads), "ceil_mode": int(op.is_ceil_mode)}
            if isinstance(op, tg.AvgPool2dOp):
                attrs["count_include_pad"] = int(op.includes_pad)
            onnx_op = "MaxPool" if isinstance(op, tg.MaxPool2dOp) else "AveragePool"
            emit(onnx_op, [name(op.input)], **attrs)
        elif isinstance(op, tg.GlobalAvgPoolOp):
            emit("GlobalAveragePool", [name(op.input)])
        elif isinstance(op, tg.GATED_OPS):  # an N x 1 x 1 x C gate is N x C x 1 x 1
            emit("Mul" if isinstance(op, tg.MulOp) else "Sub", [name(op.lhs), name(op.rhs)])
        elif isinstance(op, tg.ChannelSliceOp):
            start, stop = op.channels
            emit("Slice", [name(op.input), init(f"{out}.starts", np.array([start])),
                           init(f"{out}.ends", np.array([stop])),
                           init(f"{out}.axes", np.array([1]))])
        elif isinstance(op, tg.ChannelShuffleOp):  # Reshape, Transpose, Reshape
            n, h, w, c = tg.tensor_shape(op.input)
            g = op.group_count
            grouped, swapped = f"{out}.grouped", f"{out}.swapped"
            nodes.append(helper.make_node(
                "Reshape", [name(op.input), init(f"{out}.shape5", np.array([n, g, c // g, h, w]))],
                [grouped], name=f"{node_name}.group"))
            nodes.append(helper.make_node("Transpose", [grouped], [swapped],
                                          name=f"{node_name}.swap", perm=[0, 2, 1, 3, 4]))
            shapes += [helper.make_tensor_value_info(grouped, TensorProto.FLOAT,
                                                     [n, g, c // g, h, w]),
                       helper.make_tensor_value_info(swapped, TensorProto.FLOAT,
                                                     [n, c // g, g, h, w])]
            emit("Reshape", [swapped, init(f"{out}.shape4", np.array([n, c, h, w]))])
        elif isinstance(op, tg.AddOp):
            emit("Add", [name(op.lhs), name(op.rhs)])
        elif isinstance(op, tg.ConcatOp):
            rank = len(tg.tensor_shape(op.output))
            axis = {3: 1, 1: 2, 2: 3, 0: 0}[op.axis.value.data] if rank == 4 \
                else op.axis.value.data
            emit("Concat", [name(v) for v in op.inputs], axis=axis)
        elif isinstance(op, tg.ReluOp):
            emit("Relu", [name(op.input)])
        elif isinstance(op, tg.SigmoidOp):
            emit("Sigmoid", [name(op.input)])
        elif isinstance(op, tg.HardSigmoidOp):
            alpha, beta = op.coefficients
            emit("HardSigmoid", [name(op.input)], alpha=alpha, beta=beta)
        elif isinstance(op, tg.HardSwishOp):
            emit("HardSwish", [name(op.input)])
        elif isinstance(op, tg.SiluOp):  # ONNX has no SiLU: x * Sigmoid(x)
            gate = f"{out}.sigmoid"
            nodes.append(helper.make_node("Sigmoid", [name(op.input)], [gate],
                                          name=f"{node_name}.sigmoid"))
            shapes.append(helper.make_tensor_value_info(gate, TensorProto.FLOAT,
                                                        nchw(tg.tensor_shape(op.output))))
            emit("Mul", [name(op.input), gate])
        elif isinstance(op, tg.ClipOp):
            lo, hi = op.bounds
            ins = [name(op.input), init(f"{out}.min", np.array(lo, np.float32)),
                   init(f"{out}.max", np.array(hi, np.float32))]
            emit("Clip", ins)
        elif isinstance(op, tg.FlattenOp):
            shape = tg.tensor_shape(op.input)
            if len(shape) == 4 and shape[1] * shape[2] > 1:
                _, h, w, c = shape
                perms[op.output] = np.arange(c * h * w).reshape(c, h, w).transpose(
                    1, 2, 0).reshape(-1)
            emit("Flatten", [name(op.input)], axis=1)
        elif isinstance(op, tg.BatchNormOp):
            ins = [name(op.input)] + [init(key(v), weights[key(v)]) for v in
                                      (op.scale, op.shift, op.mean, op.variance)]
            emit("BatchNormalization", ins, epsilon=op.eps)
        else:
            raise BsirError(f"ONNX export does not support '{kind}'", op_location(op))
    outputs = []
    for value in graph.output.values:
        if value in perms:
            raise BsirError("a graph output is a flattened NHWC tensor; ONNX orders it "
                            "differently")
        outputs.append(helper.make_tensor_value_info(name(value), TensorProto.FLOAT,
                                                     nchw(tg.tensor_shape(value))))
    produced = {value.name for value in outputs}
    onnx_graph = helper.make_graph(nodes, graph.sym_name.data, inputs, outputs, inits,
                                   value_info=[v for v in shapes if v.name not in produced])
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="bsir")
    model.ir_version = 8
    write_atomically(path, lambda stream: stream.write(model.SerializeToString()))
