"""ONNX models built in the tests with onnx.helper (no download, no torch)."""

from __future__ import annotations

import numpy as np

OPSET = 17


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


class OnnxGraph:
    """A small helper to write an ONNX graph node by node with random initializers."""

    def __init__(self, name: str, input_shape: list[int], seed: int = 0):
        from onnx import TensorProto, helper

        self.helper = helper
        self.name = name
        self.rng = _rng(seed)
        self.nodes = []
        self.inits = []
        self.inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)]
        self.count = 0

    def init(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def rand(self, name: str, shape: list[int], scale: float = 0.3) -> str:
        return self.init(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        self.count += 1
        out = f"{op.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int | tuple[int, int], bias: bool = True,
             group: int = 1, **attrs) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        n = self.count + 1
        w = self.rand(f"conv{n}.weight", [cout, cin // group, kh, kw])
        ins = [x, w] + ([self.rand(f"conv{n}.bias", [cout], 0.1)] if bias else [])
        return self.node("Conv", ins, kernel_shape=[kh, kw], group=group, **attrs)

    def bn(self, x: str, c: int) -> str:
        n = self.count + 1
        scale = (1 + 0.1 * self.rng.standard_normal(c)).astype(np.float32)
        scale = self.init(f"bn{n}.scale", scale)
        shift = self.rand(f"bn{n}.shift", [c], 0.1)
        mean = self.rand(f"bn{n}.mean", [c], 0.1)
        var = self.init(f"bn{n}.var", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.node("BatchNormalization", [x, scale, shift, mean, var], epsilon=1e-3)

    def model(self, outputs: list[tuple[str, list[int]]]):
        from onnx import TensorProto, checker, helper

        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        checker.check_model(model)
        return model


def residual_block():
    """conv-bn-relu-conv-bn + identity, relu; then a strided projection block; GAP; Gemm."""
    g = OnnxGraph("residual", [1, 8, 10, 10])
    y = g.node("Relu", [g.bn(g.conv("input", 8, 8, 3, bias=False, pads=[1, 1, 1, 1]), 8)])
    y = g.bn(g.conv(y, 8, 8, 3, bias=False, pads=[1, 1, 1, 1]), 8)
    x = g.node("Relu", [g.node("Add", [y, "input"])])
    main = g.conv(x, 8, 16, 3, strides=[2, 2], pads=[1, 1, 1, 1])
    short = g.conv(x, 8, 16, 1, strides=[2, 2])
    x = g.node("Relu", [g.node("Add", [main, short])])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w, b = g.rand("fc.weight", [5, 16]), g.rand("fc.bias", [5], 0.1)
    out = g.node("Gemm", [x, w, b], transB=1)
    return g.model([(out, [1, 5])])


def inception_block():
    """Four branches (1x1, 1x3/3x1, 5x5, avg-pool + 1x1) joined by a channel Concat."""
    g = OnnxGraph("inception", [1, 6, 9, 9])
    b1 = g.node("Relu", [g.conv("input", 6, 4, 1)])
    b3 = g.conv(g.conv("input", 6, 4, (1, 3), pads=[0, 1, 0, 1]), 4, 4, (3, 1), pads=[1, 0, 1, 0])
    zero, six = g.init("zero", np.array(0, np.float32)), g.init("six", np.array(6, np.float32))
    b5 = g.node("Clip", [g.conv("input", 6, 2, 5, pads=[2, 2, 2, 2]), zero, six])
    pool = g.node("AveragePool", ["input"], kernel_shape=[3, 3], strides=[1, 1],
                  pads=[1, 1, 1, 1], count_include_pad=1)
    bp = g.conv(pool, 6, 3, 1)
    cat = g.node("Concat", [b1, b3, b5, bp], axis=1)
    out = g.node("MaxPool", [cat], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    return g.model([(out, [1, 13, 4, 4])])


def classifier_head():
    """A 4-D Flatten feeding Gemm (feature-order permutation) and a MatMul + Add bias."""
    g = OnnxGraph("head", [1, 3, 6, 6])
    x = g.node("Relu", [g.conv("input", 3, 4, 3, strides=[2, 2], auto_pad="SAME_UPPER")])
    x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[1, 1])
    shape = g.init("shape", np.array([1, -1], np.int64))
    x = g.node("Reshape", [x, shape])
    w, b = g.rand("fc1.weight", [16, 7]), g.rand("fc1.bias", [7], 0.1)
    x = g.node("Gemm", [x, w, b], alpha=0.5, beta=2.0)
    x = g.node("Dropout", [g.node("Relu", [x])])
    x = g.node("MatMul", [x, g.rand("fc2.weight", [7, 3])])
    out = g.node("Add", [x, g.rand("fc2.bias", [3], 0.1)])
    return g.model([(out, [1, 3])])


def exporter_constants():
    """What ONNX exporters leave for the importer to fold: an Identity on a shared
    initializer (TorchScript deduplicates equal weights), a Cast of a float16 constant,
    and the Shape -> Gather -> Unsqueeze -> Concat chain that gives a Reshape its
    target shape (``x.view(x.size(0), -1)``)."""
    g = OnnxGraph("exported", [1, 4, 6, 6])
    shared = g.rand("shared.bias", [4], 0.1)
    alias = g.node("Identity", [shared])
    w = g.rand("conv.weight", [4, 4, 3, 3])
    x = g.node("Relu", [g.node("Conv", ["input", w, alias], kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])])
    half = g.init("w2.half", (g.rng.standard_normal([4, 4, 1, 1]) * 0.3).astype(np.float16))
    w2 = g.node("Cast", [half], to=1)  # TensorProto.FLOAT
    x = g.node("Conv", [x, w2, g.node("Identity", [shared])], kernel_shape=[1, 1])
    x = g.node("GlobalAveragePool", [x])
    batch = g.node("Gather", [g.node("Shape", [x]), g.init("zero", np.array(0, np.int64))],
                   axis=0)
    target = g.node("Concat", [g.node("Unsqueeze", [batch, g.init("axes", np.array([0]))]),
                               g.init("minus_one", np.array([-1], np.int64))], axis=0)
    x = g.node("Reshape", [x, target])
    out = g.node("Gemm", [x, g.rand("fc.weight", [3, 4]), g.rand("fc.bias", [3], 0.1)],
                 transB=1)
    return g.model([(out, [1, 3])])


def assert_export_round_trip(module, arrays, path: str) -> None:
    """Export a float tg module to ``path``: onnxruntime computes what bsir does, and
    importing the file back gives a graph that computes it exactly."""
    import onnxruntime as ort

    from bsir.dialects import tg
    from bsir.executor import run_module
    from bsir.onnx_export import export_onnx
    from bsir.onnx_import import import_onnx

    export_onnx(module, arrays, path)
    shape = tg.tensor_shape(module.body.block.first_op.block.args[0])
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    expected = run_module(module, arrays, [x])[0]
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input": x.transpose(0, 3, 1, 2)})[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    imported, back = import_onnx(path)
    assert np.array_equal(run_module(imported, back, [x])[0], expected)
