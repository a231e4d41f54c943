"""ONNX import: structure, layouts and weights of models built with onnx.helper."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402

from bsir.diagnostics import BsirError  # noqa: E402
from bsir.dialects import tg  # noqa: E402
from bsir.ir import parse_module, print_module, verify_module  # noqa: E402
from bsir.onnx_import import import_onnx  # noqa: E402
from onnx_models import OnnxGraph, classifier_head, inception_block, residual_block  # noqa: E402


def save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def imports_as_onnxruntime_runs(model, tmp_path, atol: float = 1e-5):
    """Save ``model`` (one 1 x 2 x 4 x 4 input), import it and check that the imported
    graph computes what onnxruntime does (a 4-D output compared in NCHW); returns the
    module."""
    from exported_models import onnxruntime_output

    from bsir.executor import run_module

    path = save(model, tmp_path)
    module, arrays = import_onnx(path)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4)).astype(np.float32)
    got = run_module(module.clone(), arrays, [x.transpose(0, 2, 3, 1)])[0]
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, onnxruntime_output(path, x), atol=atol)
    return module


def ops_of(module):
    graph = module.body.block.first_op
    return [op for op in graph.block.ops if not isinstance(op, tg.WeightOp | tg.OutputOp)]


def initializer(model, name):
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name)


def test_residual_block(tmp_path):
    model = residual_block()
    module, arrays = import_onnx(save(model, tmp_path))
    verify_module(module)
    kinds = [op.name for op in ops_of(module)]
    assert kinds.count("tg.add") == 2 and kinds.count("tg.batch_norm") == 2
    assert kinds[-3:] == ["tg.global_avgpool", "tg.flatten", "tg.matmul"]
    graph = module.body.block.first_op
    assert tg.tensor_shape(graph.block.args[0]) == (1, 10, 10, 8)  # NCHW -> NHWC
    # Conv weights are COUT x KH x KW x CIN; Gemm(transB=1) weights stay COUT x CIN.
    w = initializer(model, "conv1.weight")
    assert np.array_equal(arrays["conv1.weight"], w.transpose(0, 2, 3, 1))
    assert np.array_equal(arrays["fc.weight"], initializer(model, "fc.weight"))
    assert module.is_structurally_equivalent(parse_module(print_module(module)))


def test_inception_block_concat_and_pools(tmp_path):
    module, _ = import_onnx(save(inception_block(), tmp_path))
    ops = ops_of(module)
    concat = next(op for op in ops if isinstance(op, tg.ConcatOp))
    assert concat.axis.value.data == 3  # ONNX channel axis 1 is NHWC axis 3
    assert tg.tensor_shape(concat.output) == (1, 9, 9, 13)
    clip = next(op for op in ops if isinstance(op, tg.ClipOp))
    assert clip.bounds == (0.0, 6.0)
    pool = next(op for op in ops if isinstance(op, tg.AvgPool2dOp))
    assert pool.includes_pad
    maxpool = next(op for op in ops if isinstance(op, tg.MaxPool2dOp))
    assert maxpool.is_ceil_mode and tg.tensor_shape(maxpool.output) == (1, 4, 4, 13)
    separable = [op for op in ops if isinstance(op, tg.Conv2dOp)
                 and tg.tensor_shape(op.weight)[1:3] in ((1, 3), (3, 1))]
    assert [op.pads for op in separable] == [(0, 1, 0, 1), (1, 0, 1, 0)]


def test_classifier_head_permutes_flattened_features(tmp_path):
    model = classifier_head()
    module, arrays = import_onnx(save(model, tmp_path))
    matmuls = [op for op in ops_of(module) if isinstance(op, tg.MatmulOp)]
    assert len(matmuls) == 2 and all(m.bias is not None for m in matmuls)
    conv = next(op for op in ops_of(module) if isinstance(op, tg.Conv2dOp))
    assert conv.pads == (0, 0, 1, 1)  # SAME_UPPER puts the odd pad at the end
    # Gemm (alpha 0.5, transB 0) weight is transposed, scaled and its columns permuted
    # from ONNX's (C, H, W) feature order to tg's (H, W, C).
    onnx_w = initializer(model, "fc1.weight").T * 0.5
    perm = np.arange(16).reshape(4, 2, 2).transpose(1, 2, 0).reshape(-1)
    assert np.allclose(arrays["fc1.weight"], onnx_w[:, perm])
    assert np.allclose(arrays["fc1.bias"], initializer(model, "fc1.bias") * 2.0)
    # MatMul + Add(bias) become one linear layer.
    assert np.allclose(arrays["fc2.weight"], initializer(model, "fc2.weight").T)
    assert np.allclose(arrays["fc2.bias"], initializer(model, "fc2.bias"))


def test_unsupported_op_names_the_node(tmp_path):
    g = OnnxGraph("bad", [1, 2, 4, 4])
    out = g.node("LpNormalization", ["input"])
    with pytest.raises(BsirError, match=r"ONNX node 'lpnormalization_1' \(LpNormalization\): "
                                        r"unsupported operator"):
        import_onnx(save(g.model([(out, [1, 2, 4, 4])]), tmp_path))


@pytest.mark.parametrize("op, attrs, message", [
    ("Softmax", {"axis": 1}, "only a softmax over the last axis is supported"),
    ("Transpose", {"perm": [0, 0, 2, 3]}, "is not a permutation"),
])
def test_transformer_ops_outside_what_tg_has_name_the_node(tmp_path, op, attrs, message):
    g = OnnxGraph("bad", [1, 2, 4, 4])
    out = g.node(op, ["input"], **attrs)
    with pytest.raises(BsirError, match=rf"ONNX node '{op.lower()}_1' \({op}\): .*{message}"):
        import_onnx(save(g.model([(out, [1, 2, 4, 4])]), tmp_path))


def test_a_transformer_tensor_and_an_image_meet_in_one_layout(tmp_path):
    """A 4-D tensor made by a Transpose is kept in ONNX's axis order; added to an image
    (kept NHWC) it is transposed first, and the sum is what ONNX computes."""
    g = OnnxGraph("mixed", [1, 2, 4, 4])
    conv = g.conv("input", 2, 2, 1)
    swapped = g.node("Transpose", ["input"], perm=[0, 1, 3, 2])  # H and W swapped
    out = g.node("Add", [conv, swapped])
    imports_as_onnxruntime_runs(g.model([(out, [1, 2, 4, 4])]), tmp_path)


@pytest.mark.parametrize("op, inputs, attrs, shape", [
    ("Einsum", 2, {"equation": "bhid,bhjd->bhij"}, [1, 2, 4, 4]),   # Q K^T
    ("Einsum", 2, {"equation": "bhij,bhjd->bhid"}, [1, 2, 4, 4]),   # A V
    ("Tanh", 1, {}, [1, 2, 4, 4]),
    ("Softmax", 1, {"axis": -1}, [1, 2, 4, 4]),
    ("Transpose", 1, {"perm": [0, 2, 3, 1]}, [1, 4, 4, 2]),
])
def test_transformer_nodes_compute_what_onnxruntime_does(tmp_path, op, inputs, attrs, shape):
    """Each transformer node on a 4-D tensor (an image here, so every layout change the
    importer makes is exercised), against onnxruntime."""
    g = OnnxGraph("one", [1, 2, 4, 4])
    out = g.node(op, ["input"] * inputs, **attrs)
    imports_as_onnxruntime_runs(g.model([(out, shape)]), tmp_path)


def test_slices_splits_and_empty_pads_of_any_axis(tmp_path):
    """Every other row (a step-2 Slice of H), halves of W (Split), a zero Pad before a
    ReLU: what Swin's patch merging and windows need."""
    g = OnnxGraph("axes", [1, 2, 4, 4])
    rows = g.node("Slice", ["input", g.init("s", np.array([0], np.int64)),
                            g.init("e", np.array([4], np.int64)),
                            g.init("a", np.array([2], np.int64)),
                            g.init("st", np.array([2], np.int64))])
    left, right = (f"half_{i}" for i in range(2))
    g.nodes.append(helper.make_node("Split", [rows], [left, right], axis=3))
    pad = g.node("Pad", [left, g.init("p", np.zeros(8, np.int64))])
    out = g.node("Add", [g.node("Relu", [pad]), right])
    imports_as_onnxruntime_runs(g.model([(out, [1, 2, 2, 2])]), tmp_path, atol=1e-6)


@pytest.mark.parametrize("half_last", [True, False])
def test_gelu_written_with_erf_becomes_one_gelu(tmp_path, half_last):
    """Opsets before 20 spell GELU x * 0.5 * (1 + Erf(x / sqrt 2)); TorchScript multiplies
    by 0.5 last, torch.export first. Either way it imports as one tg.gelu."""
    pytest.importorskip("onnxscript")
    g = OnnxGraph("gelu", [1, 2, 4, 4])
    scaled = g.node("Div", ["input", g.init("sqrt2", np.array(np.sqrt(2.0), np.float32))])
    plus_one = g.node("Add", [g.node("Erf", [scaled]), g.init("one", np.array(1.0, np.float32))])
    half = g.init("half", np.array(0.5, np.float32))
    if half_last:
        out = g.node("Mul", [g.node("Mul", ["input", plus_one]), half])
    else:
        out = g.node("Mul", ["input", g.node("Mul", [half, plus_one])])
    module = imports_as_onnxruntime_runs(g.model([(out, [1, 2, 4, 4])]), tmp_path, atol=1e-6)
    assert [op.name for op in module.walk() if op.name.startswith("tg.")
            and op.name not in ("tg.graph", "tg.output")] == ["tg.gelu"]


def test_activation_weight_is_rejected(tmp_path):
    g = OnnxGraph("bad", [1, 2, 4, 4])
    out = g.node("Conv", ["input", "input"], kernel_shape=[1, 1])
    with pytest.raises(BsirError, match="weight 'input' must be an initializer"):
        import_onnx(save(g.model([(out, [1, 2, 4, 4])]), tmp_path))


def test_bad_shapes_name_the_node(tmp_path):
    g = OnnxGraph("bad", [1, 2, 4, 4])
    a = g.conv("input", 2, 3, 1)
    out = g.node("Add", [a, "input"])
    with pytest.raises(BsirError, match=r"\(Add\): broadcasting Add is not supported"):
        import_onnx(save(g.model([(out, [1, 3, 4, 4])]), tmp_path))


def test_malformed_file(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07not a model at all")
    with pytest.raises(BsirError, match=r"junk\.onnx is not a"):
        import_onnx(str(path))
    with pytest.raises(BsirError, match="no such file"):
        import_onnx(str(tmp_path / "missing.onnx"))


def test_symbolic_batch_becomes_one(tmp_path):
    g = OnnxGraph("dyn", ["N", 2, 4, 4])
    out = g.node("Relu", ["input"])
    module, _ = import_onnx(save(g.model([(out, ["N", 2, 4, 4])]), tmp_path))
    graph = module.body.block.first_op
    assert tg.tensor_shape(graph.block.args[0]) == (1, 4, 4, 2)
    assert helper  # helper is used by the model factories


@pytest.mark.parametrize("keepdims,kinds", [(1, ["tg.global_avgpool"]),
                                            (0, ["tg.global_avgpool", "tg.flatten"])])
def test_reduce_mean_over_h_and_w_is_global_average_pooling(tmp_path, keepdims, kinds):
    g = OnnxGraph("mean", [1, 3, 6, 6])
    y = g.node("ReduceMean", [g.conv("input", 3, 4, 3)], axes=[-2, -1], keepdims=keepdims)
    shape = [1, 4, 1, 1] if keepdims else [1, 4]
    module, _ = import_onnx(save(g.model([(y, shape)]), tmp_path))
    assert [op.name for op in ops_of(module)][1:] == kinds


def test_reduce_mean_over_channels_is_refused(tmp_path):
    g = OnnxGraph("mean", [1, 3, 6, 6])
    y = g.node("ReduceMean", ["input"], axes=[1], keepdims=1)
    with pytest.raises(BsirError, match=r"ReduceMean\): only a mean over H and W"):
        import_onnx(save(g.model([(y, [1, 1, 6, 6])]), tmp_path))


def sparse_conv_model(drop):
    """A 16 -> 16 convolution whose 8x8 blocks listed in ``drop`` are zero."""
    g = OnnxGraph("sparse", [1, 16, 5, 5])
    y = g.conv("input", 16, 16, 3)
    weight = next(i for i in g.inits if i.name == "conv1.weight")
    w = numpy_helper.to_array(weight).copy()
    for row, col in drop:
        w[row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] = 0
    g.inits[g.inits.index(weight)] = numpy_helper.from_array(w, "conv1.weight")
    return g.model([(y, [1, 16, 5, 5])])


def test_zero_blocks_are_recognised_as_block_sparsity(tmp_path):
    from bsir.onnx_import import SparsitySource

    path = save(sparse_conv_model([(0, 1), (1, 0)]), tmp_path)
    conv = next(op for op in ops_of(import_onnx(path)[0]) if isinstance(op, tg.Conv2dOp))
    assert conv.sparsity.mask_array().tolist() == [[True, False], [False, True]]
    dense, _ = import_onnx(path, SparsitySource(detect=False))
    assert all(op.sparsity is None for op in ops_of(dense) if isinstance(op, tg.Conv2dOp))
    finer, _ = import_onnx(path, SparsitySource(block=(4, 4)))
    conv = next(op for op in ops_of(finer) if isinstance(op, tg.Conv2dOp))
    assert conv.sparsity.grid_shape == (4, 4) and conv.sparsity.density() == 0.5


def test_a_mask_over_flattened_features_is_reblocked_in_tg_order(tmp_path):
    """Gamma over ONNX's (C, H, W) columns becomes Gamma over tg's (H, W, C) columns."""
    from bsir.onnx_import import SparsitySource

    model = classifier_head()
    w = initializer(model, "fc1.weight").T * 0.5  # COUT x 16 in ONNX order
    gamma = np.array([[True, False, True, False]] * -(-w.shape[0] // 2))
    for init in model.graph.initializer:
        if init.name == "fc1.weight":
            kept = np.repeat(np.repeat(gamma, 2, 0), 4, 1)[:w.shape[0]]
            init.CopyFrom(numpy_helper.from_array(
                (initializer(model, "fc1.weight") * kept.T).astype(np.float32), init.name))
    module, arrays = import_onnx(save(model, tmp_path),
                                 SparsitySource({"fc1.weight": ((2, 4), gamma)}))
    fc1 = next(op for op in ops_of(module) if isinstance(op, tg.MatmulOp))
    element = np.repeat(np.repeat(fc1.sparsity.mask_array(), 2, 0), 4, 1)[:w.shape[0]]
    assert not np.any(arrays["fc1.weight"][~element])  # zero wherever tg's Gamma drops
    assert fc1.sparsity.mask_array().sum() >= gamma.sum()


def test_exporter_constant_subgraphs_are_folded(tmp_path):
    """Identity on an initializer, Cast of a constant, a Shape-to-Reshape chain: folded
    away before conversion (the graph computes the same: tests/unit/test_executor.py)."""
    from onnx_models import exporter_constants

    module, arrays = import_onnx(save(exporter_constants(), tmp_path))
    kinds = [op.name for op in ops_of(module)]
    assert kinds == ["tg.conv2d", "tg.relu", "tg.conv2d", "tg.global_avgpool", "tg.flatten",
                     "tg.matmul"]
    assert any(a.dtype == np.float32 and a.shape == (4, 1, 1, 4) for a in arrays.values())


@pytest.mark.parametrize("opset", [11, 17])
def test_a_torchscript_export_imports_and_matches_onnxruntime(tmp_path, opset):
    """The TorchScript exporter (``dynamo=False``, most ONNX files in the wild) writes
    the batch norms' folded biases, equal across layers, once, read through Identity
    nodes: a residual network imports and computes what onnxruntime computes."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    import warnings

    from torch import nn

    from bsir.executor import run_module

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + x)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                        nn.ReLU(), Block(8), Block(8), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 10)).eval()
    x = torch.randn(1, 3, 16, 16)
    path = str(tmp_path / "ts.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=False, opset_version=opset)
    assert "Identity" in [node.op_type for node in onnx.load(path).graph.node]
    module, arrays = import_onnx(path)
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input.1": x.numpy()})[0]
    got = run_module(module, arrays, [x.numpy().transpose(0, 2, 3, 1)])[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_zero_pad_folds_into_the_convolution_after_it(tmp_path):
    """TensorFlow's exporters pad explicitly; a zero Pad before a Conv is the Conv's own
    padding (and computes what onnxruntime does); a Pad before anything else is refused."""
    ort = pytest.importorskip("onnxruntime")
    from bsir.executor import run_module

    g = OnnxGraph("padded", [1, 3, 6, 6])
    pads = g.init("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))
    out = g.conv(g.node("Pad", ["input", pads]), 3, 4, 3)
    path = save(g.model([(out, [1, 4, 7, 7])]), tmp_path)
    module, arrays = import_onnx(path)
    conv = next(op for op in ops_of(module) if isinstance(op, tg.Conv2dOp))
    assert list(conv.pads) == [1, 2, 2, 1]
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    got = run_module(module, arrays, [x.transpose(0, 2, 3, 1)])[0].transpose(0, 3, 1, 2)
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5)
    g = OnnxGraph("padded", [1, 3, 6, 6])
    out = g.node("Relu", [g.node("Pad", ["input", g.init("pads", np.array([0, 0, 1, 1,
                                                                            0, 0, 1, 1]))])])
    with pytest.raises(BsirError, match="is a zero Pad, supported only as a Conv's input"):
        import_onnx(save(g.model([(out, [1, 3, 8, 8])]), tmp_path, "relu.onnx"))
