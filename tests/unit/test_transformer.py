"""Transformer ops at the graph level: the built-in ViT against torchvision's, GELU's
two forms, the mapping (which does not handle the ops yet) refusing them in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
from exported_models import export_quietly, onnxruntime_output, torchvision_models

from bsir.dialects import tg
from bsir.executor import Executor
from bsir.models import GraphBuilder, build_model
from bsir.stats import summarize
from bsir.tools import bsir_cli
from bsir.weights import materialize

HEADS, FEATURES, LAYERS = 4, 64, 2


def _torchvision_state(weights: dict[str, np.ndarray], torch) -> dict[str, object]:
    """bsir's vit_tiny weights under torchvision's names and layouts (NCHW convolution,
    packed query-key-value projection without the folded 1 / sqrt(head size))."""
    size = FEATURES // HEADS
    state = {key: torch.from_numpy(value) for key, value in weights.items()}
    state["conv_proj.weight"] = torch.from_numpy(
        weights["conv_proj.weight"].transpose(0, 3, 1, 2).copy())
    state["class_token"] = state["class_token"].reshape(1, 1, FEATURES)
    state["encoder.pos_embedding"] = state["encoder.pos_embedding"].reshape(1, -1, FEATURES)
    for index in range(LAYERS):
        attention = f"encoder.layers.encoder_layer_{index}.self_attention"
        parts = {part: (state.pop(f"{attention}.{part}.weight"),
                        state.pop(f"{attention}.{part}.bias"))
                 for part in ("query", "key", "value", "out")}
        unscale = math.sqrt(size)
        state[f"{attention}.in_proj_weight"] = torch.cat(
            [parts["query"][0] * unscale, parts["key"][0], parts["value"][0]])
        state[f"{attention}.in_proj_bias"] = torch.cat(
            [parts["query"][1] * unscale, parts["key"][1], parts["value"][1]])
        state[f"{attention}.out_proj.weight"], state[f"{attention}.out_proj.bias"] = parts["out"]
    return state


def test_vit_tiny_computes_what_torchvision_vision_transformer_does():
    torch = pytest.importorskip("torch")
    vision_transformer = torchvision_models().vision_transformer
    built = build_model("vit_tiny")
    weights = materialize(built.specs, seed=3)
    reference = vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=FEATURES, mlp_dim=128, num_classes=10).eval()
    reference.load_state_dict(_torchvision_state(weights, torch), strict=True)
    image = np.random.default_rng(0).standard_normal((1, 32, 32, 3), dtype=np.float32)
    ours = Executor(built.module, weights).run([image])[0]
    with torch.no_grad():
        theirs = reference(torch.from_numpy(image.transpose(0, 3, 1, 2).copy())).numpy()
    assert ours.shape == theirs.shape == (1, 10)
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tanh", [False, True])
def test_gelu_both_forms_match_torch(tanh):
    torch = pytest.importorskip("torch")
    x = np.linspace(-6, 6, 1001)
    ours = tg.GeluOp(GraphBuilder("g", x.shape).input, tanh).function(x)
    theirs = torch.nn.functional.gelu(torch.from_numpy(x),
                                      approximate="tanh" if tanh else "none").numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_vit_tiny_counts_the_products_of_activations_and_every_learned_weight():
    summary = summarize(build_model("vit_tiny").module)
    tokens, size = 17, FEATURES // HEADS
    per_block = (4 * tokens * FEATURES * FEATURES          # query, key, value, out
                 + 2 * tokens * FEATURES * 128             # the MLP
                 + 2 * HEADS * tokens * tokens * size)     # Q K^T and A V
    assert summary.macs == 16 * FEATURES * 8 * 8 * 3 + LAYERS * per_block + FEATURES * 10
    per_block_params = 4 * (FEATURES * FEATURES + FEATURES) + 2 * 128 * FEATURES + 128 \
        + FEATURES + 2 * 2 * FEATURES
    assert summary.params == (FEATURES * 8 * 8 * 3 + FEATURES) + FEATURES \
        + tokens * FEATURES + LAYERS * per_block_params + 2 * FEATURES + 10 * FEATURES + 10


def test_vit_tiny_compiles_and_verifies_bit_for_bit(capsys):
    """Its class token is copied in before the patches (``concat_5.copy0``, a weight
    read from DDR), its positions are added as a table held in DDR."""
    assert bsir_cli.main(["compile", "vit_tiny", "--grid", "3x5", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "concat_5.copy0" in out and "slice" in out
    assert "verified: the simulated program matches the reference executor bit for bit" in out


def test_the_mapping_refuses_a_table_broadcast_over_tokens_in_one_line():
    from bsir.diagnostics import BsirError
    from bsir.driver.compile import compile_module

    b = GraphBuilder("broadcast", (17, 64))
    x = b.add(b.linear(b.input, 64, "fc"), b.weight("table", (1, 64), "embedding"))
    built = b.finish(b.linear(x, 4, "head"))
    with pytest.raises(BsirError) as error:
        compile_module(built.module, materialize(built.specs, 0), "2x2")
    assert error.value.message.startswith(
        "convert-tg-to-tiling: cannot map layer 'add_4' (tg.add): it reads weight 'table' "
        "as data")
    assert "\n" not in error.value.message


def test_the_int8_vit_runs_from_the_command_line(capsys):
    assert bsir_cli.main(["run", "vit_tiny", "--int8"]) == 0
    assert "output 0: shape 1x10" in capsys.readouterr().out


@pytest.mark.parametrize("exporter", ["dynamo", "script"])
def test_a_torchvision_vit_runs_as_onnxruntime_does_and_on_the_array_bit_for_bit(
        tmp_path, exporter):
    """A small torchvision ViT (random weights) from either exporter: Reshape, Transpose
    (TorchScript's five-axis one of the packed query/key/value, imported as a transpose
    of its axes longer than one), Unsqueeze, Squeeze, Gather or Slice of the packed
    projections, MatMul of activations, the scaling Mul (one value, imported as a
    per-channel gate), Softmax, LayerNormalization, Gelu, the class token concatenated
    before the patches (copied in on the array). It runs within 1e-4 of onnxruntime,
    and in INT8 on the array, 50 % 8x8-block-sparse, bit for bit."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")

    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx
    from bsir.passes.tg_sink_reshapes import TgSinkReshapesPass

    torch.manual_seed(0)
    net = torchvision_models().vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=LAYERS, num_heads=HEADS,
        hidden_dim=FEATURES, mlp_dim=128, num_classes=10).eval()
    with torch.no_grad():  # torchvision starts the classifier at zero
        for parameter in net.parameters():
            parameter.normal_(0, 0.2)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    path = str(tmp_path / "vit.onnx")
    export_quietly(net, x, path, exporter)
    module, arrays = import_onnx(path)
    ops = {op.name for op in module.walk()}
    assert {"tg.batch_matmul", "tg.softmax", "tg.layer_norm", "tg.gelu", "tg.transpose",
            "tg.slice"} <= ops
    assert all(len(tg.tensor_shape(op.results[0])) <= 4 for op in module.walk()
               if isinstance(op, tg.TransposeOp))
    expected = onnxruntime_output(path, x.numpy())
    sample = x.numpy().transpose(0, 2, 3, 1)
    got = run_module(module.clone(), arrays, [sample])[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    sunk = module.clone()  # the same values with the GELUs and additions by their layers
    TgSinkReshapesPass().apply(None, sunk)  # type: ignore[arg-type]
    assert np.array_equal(run_module(sunk, arrays, [sample])[0], got)
    program = compile_module(module, arrays, "3x5", options=CompileOptions(
        sparsity=0.5, linear=True, calibration=(sample,)))
    assert any(layer.name.endswith(".copy0") for layer in program.layers)  # class token
    ops = {layer.op for layer in program.layers}
    assert "tg.matmul+add" in ops and "tg.gelu" not in ops, ops  # residuals, GELUs fused
    assert program.verify([sample]).layers == len(program.layers)


@pytest.mark.parametrize("family, exporter, size", [("swin_t", "script", 224),
                                                    ("convnext_tiny", "dynamo", 64)])
def test_torchvision_transformers_import_and_run_as_onnxruntime_does(tmp_path, family,
                                                                    exporter, size):
    """Swin-T from TorchScript (window masks and shapes computed at import, step slices,
    GELU fused from Erf) and ConvNeXt-T from torch.export (layer norms over channels
    between transposes, an ordered Gather): random weights, within 1e-4 of onnxruntime.
    (ViT-B/16 and MaxViT-T: ``python benchmarks/model_zoo.py --families ...``.)"""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")

    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    torch.manual_seed(0)
    net = getattr(torchvision_models(), family)().eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    path = str(tmp_path / f"{family}.onnx")
    export_quietly(net, x, path, exporter)
    module, arrays = import_onnx(path)
    expected = onnxruntime_output(path, x.numpy())
    got = run_module(module, arrays, [x.numpy().transpose(0, 2, 3, 1)])[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_a_block_sparse_trained_vit_exports_and_imports_with_its_masks(tmp_path):
    """bsir.train masks every linear layer of the digits ViT; torch.export writes the
    layers over tokens as MatMuls by new, transposed initializers, so the masks are
    saved under those (found by value); bsir import then marks all 13 layers sparse and
    runs the network as onnxruntime does."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx
    from bsir.sparsity import SparsityPlan
    from bsir.train import TrainConfig, Trainer, export_onnx
    from bsir.train.data import digits
    from bsir.train.models import digits_vit

    train_set, val_set = digits(seed=0)
    torch.manual_seed(0)
    net = digits_vit()
    plan = SparsityPlan((8, 8), 0.5, "l2", skip_first=True, linear=True)
    Trainer(net, train_set, TrainConfig(1, seed=0, progress=False), val_set).run(plan)
    path = str(tmp_path / "vit.onnx")
    export_onnx(net, torch.zeros(1, 1, 8, 8), path)
    module, arrays = import_onnx(path)
    sparse = [op for op in module.walk() if getattr(op, "sparsity", None) is not None]
    assert len(sparse) == 13 and all(op.sparsity.density() == 0.5 for op in sparse)
    x = val_set.tensors[0][:1].numpy()
    expected = onnxruntime_output(path, x)
    got = run_module(module, arrays, [x.transpose(0, 2, 3, 1)])[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_layer_norm_and_gelu_spelt_out_by_old_opsets_import_as_one_op_each(tmp_path):
    """TorchScript at opset 14 writes a layer norm as ReduceMean, Sub, Pow, ReduceMean,
    Add, Sqrt, Div, Mul, Add and GELU with Erf: each becomes one tg op, and the graph
    runs as onnxruntime does."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.LayerNorm(16), torch.nn.Linear(16, 32),
                              torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
    with torch.no_grad():
        net[0].weight.normal_(1, 0.1)
        net[0].bias.normal_(0, 0.1)
    x = torch.randn(4, 16)
    path = str(tmp_path / "old.onnx")
    export_quietly(net, x, path, "script", opset=14)
    module, arrays = import_onnx(path)
    ops = [op.name for op in module.walk() if op.name.startswith("tg.")
           and op.name not in ("tg.graph", "tg.output", "tg.weight")]
    assert ops == ["tg.layer_norm", "tg.matmul", "tg.gelu", "tg.matmul"]
    expected = onnxruntime_output(path, x.numpy())
    got = run_module(module, arrays, [x.numpy()])[0]
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("exporter", ["script", "dynamo"])
def test_a_convnext_block_imports_without_transposes_and_runs_on_the_array(tmp_path,
                                                                           exporter):
    """ConvNeXt's block (depthwise 7x7, permute to channels last, layer norm, an MLP over
    the channels, layer scale, permute back, residual): the permutes cancel against the
    importer's own layout changes, and the block compiles and runs bit for bit."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.executor import run_module
    from bsir.onnx_import import import_onnx

    class Block(torch.nn.Module):
        def __init__(self, channels: int = 16):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, channels, 2, stride=2)
            self.depthwise = torch.nn.Conv2d(channels, channels, 7, padding=3,
                                             groups=channels)
            self.norm = torch.nn.LayerNorm(channels, eps=1e-6)
            self.up = torch.nn.Linear(channels, 4 * channels)
            self.down = torch.nn.Linear(4 * channels, channels)
            self.scale = torch.nn.Parameter(torch.rand(channels, 1, 1))

        def forward(self, x):
            x = self.stem(x)
            y = self.norm(self.depthwise(x).permute(0, 2, 3, 1))
            y = self.down(torch.nn.functional.gelu(self.up(y))).permute(0, 3, 1, 2)
            return x + self.scale * y

    torch.manual_seed(0)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    path = str(tmp_path / "block.onnx")
    export_quietly(Block().eval(), x, path, exporter)
    module, arrays = import_onnx(path)
    names = {op.name for op in module.walk()}
    assert "tg.transpose" not in names and "tg.layer_norm" in names
    image = x.numpy().transpose(0, 2, 3, 1)
    got = run_module(module.clone(), arrays, [image])[0].transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, onnxruntime_output(path, x.numpy()), atol=1e-5)
    result = compile_module(module, arrays, "3x5", options=CompileOptions(
        sparsity=0.5, linear=True, calibration=(image,)))
    assert not result.failed
    result.verify([image])
