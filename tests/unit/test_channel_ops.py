"""Channel slices and ShuffleNet's channel shuffle: exact copies of channels, run on the
array as layers that gather the channels they copy (bit for bit), from both exporters."""

import warnings

import numpy as np
import pytest
from calibrated import compile_calibrated

from bsir.dialects import tg
from bsir.executor import run_module
from bsir.models.builder import GraphBuilder
from bsir.weights import materialize


def shuffle_net():
    """A ShuffleNet-v2 unit: split the channels, convolve one half, concatenate, shuffle."""
    b = GraphBuilder("shuffle", (1, 12, 12, 8))
    x = b.relu(b.conv(b.input, 16, 3, "c1", pad=1))
    left = b.append(tg.ChannelSliceOp(x, 0, 8))
    right = b.relu(b.conv(b.append(tg.ChannelSliceOp(x, 8, 16)), 8, 1, "c2"))
    shuffled = b.append(tg.ChannelShuffleOp(b.concat([left, right]), 2))
    built = b.finish(b.linear(b.flatten(b.global_avgpool(b.conv(shuffled, 16, 1, "c3"))),
                              10, "fc"))
    return built, materialize(built.specs, 0)


def test_the_channels_they_copy():
    x = GraphBuilder("one", (1, 2, 2, 6)).input
    assert tg.ChannelShuffleOp(x, 2).channel_map() == (0, 3, 1, 4, 2, 5)
    assert tg.ChannelShuffleOp(x, 3).channel_map() == (0, 2, 4, 1, 3, 5)
    assert tg.ChannelSliceOp(x, 2, 5).channel_map() == (2, 3, 4)
    data = np.arange(24, dtype=np.float32).reshape(1, 2, 2, 6)
    torch_order = data.reshape(1, 2, 2, 2, 3).swapaxes(3, 4).reshape(1, 2, 2, 6)
    assert np.array_equal(data[..., list(tg.ChannelShuffleOp(x, 2).channel_map())],
                          torch_order)


@pytest.mark.parametrize("grid", ["2x2", "3x5", "8x8"])
def test_slices_and_a_shuffle_run_bit_for_bit_on_the_array(grid):
    result, x = compile_calibrated(*shuffle_net(), grid, (1, 12, 12, 8))
    kinds = [layer.op for layer in result.layers]
    assert kinds.count("tg.channel_slice") == 2 and kinds.count("tg.channel_shuffle") == 1
    assert result.verify([x]).layers == len(result.layers)


def test_export_runs_in_onnxruntime_and_imports_back(tmp_path):
    pytest.importorskip("onnxruntime")
    from onnx_models import assert_export_round_trip

    built, arrays = shuffle_net()
    assert_export_round_trip(built.module, arrays, str(tmp_path / "shuffle.onnx"))


@pytest.mark.parametrize("dynamo", [False, True])
def test_both_torch_exporters_import_and_match_onnxruntime(tmp_path, dynamo):
    """``x.chunk(2, dim=1)`` (Slice or Split) and ``view, transpose, view`` (the shuffle)."""
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from torch import nn

    from bsir.onnx_import import import_onnx

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.branch = nn.Conv2d(4, 4, 1)
            self.head = nn.Linear(8, 5)

        def forward(self, x):
            x = torch.relu(self.stem(x))
            a, b = x.chunk(2, dim=1)
            x = torch.cat((a, torch.relu(self.branch(b))), dim=1)
            n, c, h, w = x.shape
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
            return self.head(x.mean([2, 3]))

    torch.manual_seed(0)
    x = torch.randn(1, 3, 10, 10)
    path = str(tmp_path / "unit.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Unit().eval(), (x,), path, dynamo=dynamo,
                          opset_version=18 if dynamo else 17)
    module, arrays = import_onnx(path)
    kinds = [op.name for op in module.walk() if isinstance(op, tg.MOVE_CHANNEL_OPS)]
    assert kinds == ["tg.channel_slice", "tg.channel_slice", "tg.channel_shuffle"]
    name = onnx.load(path).graph.input[0].name
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {name: x.numpy()})[0]
    got = run_module(module, arrays, [x.numpy().transpose(0, 2, 3, 1)])[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
