"""The reference executor: hand-computed layers, int8 arithmetic, onnxruntime agreement."""

import numpy as np
import pytest

from bsir import layers
from bsir.diagnostics import BsirError
from bsir.executor import run_module
from bsir.models import build_model
from bsir.weights import materialize


def naive_conv(x, w, stride, pad, dilation, groups):
    """Six nested loops: slow, and obviously a convolution."""
    n, h, wd, _ = x.shape
    cout, kh, kw, cin_g = w.shape
    top, left, bottom, right = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, oh, ow, cout))
    per_group = cout // groups
    for o in range(cout):
        g = o // per_group
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]
                        row = xp[0, r, q]
                        out[0, i, j, o] += row[g * cin_g:(g + 1) * cin_g] @ w[o, a, b]
    return out


def test_conv_by_hand():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    w = np.ones((1, 3, 3, 1), np.float32)
    y = layers.conv2d_float(x, w, np.array([1.0], np.float32), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    # top-left output: 0+1+4+5 (+ bias 1); centre (1,1): sum of 0..2 x 0..2 = 45 (+1)
    assert y[0, 0, 0, 0] == 11 and y[0, 1, 1, 0] == 46 and y.shape == (1, 4, 4, 1)


@pytest.mark.parametrize("stride, pad, dilation, groups", [
    ((1, 1), (0, 0, 0, 0), (1, 1), 1), ((2, 1), (1, 0, 2, 1), (1, 1), 1),
    ((1, 2), (2, 2, 2, 2), (2, 1), 1), ((1, 1), (1, 1, 1, 1), (1, 1), 3),
    ((3, 3), (0, 1, 0, 1), (1, 1), 1),
])
def test_conv_matches_naive_loops(stride, pad, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 7, 8, 6)).astype(np.float32)
    w = rng.standard_normal((9, 3, 2, 6 // groups)).astype(np.float32)
    y = layers.conv2d_float(x, w, None, stride, pad, dilation, groups)
    assert np.allclose(y, naive_conv(x, w, stride, pad, dilation, groups), atol=1e-4)
    xi = rng.integers(-128, 128, x.shape).astype(np.int8)
    wi = rng.integers(-128, 128, w.shape).astype(np.int8)
    acc = layers.int_accumulate(xi, wi, lambda a, b: layers.conv2d_accumulate(
        a, b, stride, pad, dilation, groups, np.float64))
    assert np.array_equal(acc, naive_conv(xi, wi, stride, pad, dilation, groups).astype(np.int64))


def test_int8_conv_requantizes_by_hand():
    x = np.array([[[[10, -3]]]], np.int8)            # fix 2: 2.5, -0.75
    w = np.array([[[[7, 5]]]], np.int8)              # fix 3: 0.875, 0.625
    b = np.array([9], np.int32)                      # fix 4
    # acc at fix 5: 70 - 15 = 55; bias 9 at fix 4 -> 18 at fix 5; 73 at fix 5
    # to fix 1: 73 / 16 = 4.5625 -> 5
    y = layers.conv2d_int8(x, w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1, 2, 3, 4, 1)
    assert y.tolist() == [[[[5]]]] and y.dtype == np.int8


def test_pools_by_hand():
    x = np.array([1, 2, 3, 4, 5], np.float32).reshape(1, 1, 5, 1)
    # max, kernel 2 stride 2 pad 1 each side, ceil mode: windows [pad,1] [2,3] [4,5]
    y = layers.maxpool(x, (1, 2), (1, 2), (0, 1, 0, 1), (1, 3))
    assert y.ravel().tolist() == [1, 3, 5]
    avg_in = layers.avgpool_float(x, (1, 3), (1, 2), (0, 1, 0, 1), (1, 3), True)
    avg_ex = layers.avgpool_float(x, (1, 3), (1, 2), (0, 1, 0, 1), (1, 3), False)
    assert avg_in.ravel().tolist() == pytest.approx([1.0, 3.0, 3.0])   # (0+1+2)/3, (4+5+0)/3
    assert avg_ex.ravel().tolist() == pytest.approx([1.5, 3.0, 4.5])
    xi = np.array([3, 4, -5], np.int8).reshape(1, 1, 3, 1)
    # global average at fix 1 -> fix 2: (2 / 3) * 2 = 1.33 -> 1
    assert layers.global_avgpool_int8(xi, 1, 2).ravel().tolist() == [1]
    assert layers.global_avgpool_int8(np.array([3, 4], np.int8).reshape(1, 1, 2, 1),
                                      0, 0).ravel().tolist() == [4]       # 3.5 -> 4


def test_int8_add_aligns_fix_positions():
    a = np.array([3], np.int8)     # fix 1: 1.5
    b = np.array([-5], np.int8)    # fix 3: -0.625
    # common fix 3: 12 - 5 = 7 (0.875); to fix 2: 3.5 -> 4
    assert layers.add_int8(a, b, 1, 3, 2).tolist() == [4]


def test_input_shape_is_checked():
    model = build_model("tiny_cnn")
    with pytest.raises(BsirError, match=r"input 0 has shape \[1, 8, 8, 3\]"):
        run_module(model.module, materialize(model.specs, 0), [np.zeros((1, 8, 8, 3))])


@pytest.mark.parametrize("factory", ["residual_block", "inception_block", "classifier_head",
                                     "exporter_constants"])
def test_matches_onnxruntime(tmp_path, factory):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import onnx_models
    from bsir.onnx_import import import_onnx

    model = getattr(onnx_models, factory)()
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    module, arrays = import_onnx(path)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x})[0]
    got = run_module(module, arrays, [x.transpose(0, 2, 3, 1)])[0]
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
