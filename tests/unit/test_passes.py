"""tg-sparsify, tg-fold-batchnorm and tg-quantize on real (small) networks."""

import os

import numpy as np
import pytest
from xdsl.dialects.builtin import StringAttr

from bsir import quant
from bsir.diagnostics import BsirError
from bsir.dialects import aie2, tg
from bsir.dialects.tg import only_graph
from bsir.driver.pipeline import run_pipeline
from bsir.executor import random_inputs, run_module
from bsir.ir import load_module, print_module
from bsir.sparsity import mask_of_zero_blocks
from bsir.stats import layer_stats
from bsir.tools import bsir_cli
from bsir.weights import ir_location, load_weights


@pytest.fixture
def exported(tmp_path):
    def export(name):
        path = tmp_path / f"{name}.mlir"
        assert bsir_cli.main(["export", name, "-o", str(path)]) == 0
        return str(path)
    return export


def transform(path, pipeline):
    module = load_module(path)
    with ir_location(path):
        run_pipeline(module, pipeline)
        return module, load_weights(module)


def convs(module):
    return [op for op in only_graph(module).block.ops if isinstance(op, tg.Conv2dOp)]


def test_sparsify_zeroes_exact_fraction_and_keeps_input(exported):
    path = exported("tiny_resnet")
    before = os.path.getmtime(path[:-5] + ".npz")
    module, arrays = transform(path, "builtin.module(tg-sparsify{block=8,8 ratio=0.5 "
                                     "criterion=l1 report=false})")
    assert module.attributes["tg.weights"] == StringAttr("tiny_resnet.sparse.npz")
    assert os.path.getmtime(path[:-5] + ".npz") == before
    for conv in convs(module):
        mask = conv.sparsity.mask_array()
        weight = arrays[conv.weight.owner.key.data]
        assert (~mask).sum() == np.ceil(mask.size * 0.5 - 0.5)
        assert np.array_equal(mask_of_zero_blocks(weight, (8, 8)) & mask,
                              mask_of_zero_blocks(weight, (8, 8)))
    assert not any(isinstance(op, tg.MatmulOp) and op.sparsity
                   for op in only_graph(module).block.ops)


def test_sparsify_options(exported):
    path = exported("tiny_resnet")
    module, _ = transform(path, 'builtin.module(tg-sparsify{block=4,4 ratio=0.5 skip-first=true '
                                'balanced=true linear=true overrides="layer2.*=0.75 fc=0.25" '
                                'report=false weights-out="custom.npz"})')
    assert module.attributes["tg.weights"] == StringAttr("custom.npz")
    stats = {s.name: s for s in layer_stats(module)}
    assert stats["conv1"].density == 1.0
    assert stats["layer1.0.conv3"].density == 0.5
    assert stats["layer2.0.conv3"].density == 0.25
    assert stats["fc"].density == pytest.approx(0.75, abs=0.05)
    for conv in convs(module)[1:]:
        rows = conv.sparsity.mask_array().sum(axis=1)
        assert (rows == rows[0]).all()


@pytest.mark.parametrize("pipeline, message", [
    ("tg-sparsify{ratio=1.5}", "ratio must be in"),
    ("tg-sparsify{criterion=l3}", "unknown criterion 'l3'"),
    ('tg-sparsify{overrides="conv1"}', "bad override 'conv1'"),
    ("tg-sparsify{block=8}", "block must be two positive sizes"),
    ("tg-quantize", "run tg-fold-batchnorm first"),
    ("tg-quantize{method=median}", "unknown method 'median'"),
])
def test_bad_pass_options_are_one_line_errors(exported, pipeline, message):
    with pytest.raises(BsirError, match=message):
        transform(exported("tiny_resnet"), pipeline)


def test_fold_batchnorm_keeps_the_function(exported):
    path = exported("tiny_resnet")
    reference = load_module(path)
    x = random_inputs(reference, seed=3)[0]
    expected = run_module(reference, load_weights(reference, path), x)[0]
    module, arrays = transform(path, "builtin.module(tg-fold-batchnorm)")
    graph = only_graph(module)
    assert not any(isinstance(op, tg.BatchNormOp) for op in graph.block.ops)
    assert all(conv.bias is not None for conv in convs(module))
    assert not any(key.endswith("running_mean") for key in arrays)
    got = run_module(module, arrays, x)[0]
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_fold_then_sparsify_keeps_zero_blocks(exported):
    module, arrays = transform(exported("tiny_resnet"),
                               "builtin.module(tg-sparsify{report=false}, tg-fold-batchnorm)")
    for conv in convs(module):
        weight = arrays[conv.weight.owner.key.data]
        assert np.array_equal(mask_of_zero_blocks(weight, (8, 8)), conv.sparsity.mask_array())


INT8_ERROR_BOUND = 0.1
"""Documented bound: on a calibrated network, |int8 - float| <= 10% of max |float|."""


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_resnet", "tiny_inception"])
def test_int8_agrees_with_float_within_the_bound(exported, name):
    path = exported(name)
    folded, float_weights = transform(path, "builtin.module(tg-fold-batchnorm)")
    module, arrays = transform(path, "builtin.module(tg-fold-batchnorm, tg-quantize{samples=4})")
    text = print_module(module)
    assert "tg.quantize" in text and "tg.dequantize" in text
    for seed in range(3):
        x = random_inputs(module, seed=100 + seed)[0]   # not the calibration inputs
        y_float = run_module(folded, float_weights, x)[0]
        y_int8 = run_module(module, arrays, x)[0]
        assert np.abs(y_int8 - y_float).max() <= INT8_ERROR_BOUND * np.abs(y_float).max()
        assert np.array_equal(y_int8, run_module(module, arrays, x)[0])  # reproducible


def test_quantized_weights_are_int8_with_int32_bias(exported):
    module, arrays = transform(exported("tiny_cnn"),
                               "builtin.module(tg-quantize{method=max})")
    for op in only_graph(module).block.ops:
        if isinstance(op, tg.WeightOp):
            kind = arrays[op.key.data].dtype
            assert kind == (np.int32 if op.key.data.endswith("bias") else np.int8)
    with pytest.raises(BsirError, match="already quantized"):
        run_pipeline(module, "tg-quantize")


def test_quantize_is_deterministic(exported):
    path = exported("tiny_inception")
    pipeline = "builtin.module(tg-fold-batchnorm, tg-quantize{seed=4})"
    first, a = transform(path, pipeline)
    second, b = transform(path, pipeline)
    assert print_module(first) == print_module(second)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_calibration_file(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # option paths are relative to the working folder
    path = exported("tiny_cnn")
    data = np.random.default_rng(0).standard_normal((3, 1, 16, 16, 3)).astype(np.float32)
    np.save(tmp_path / "calib.npy", data)
    module, _ = transform(path, 'builtin.module(tg-quantize{calibration="calib.npy"})')
    assert "tg.quantize" in print_module(module)
    np.save(tmp_path / "wrong.npy", data[:, :, :8])
    with pytest.raises(BsirError, match="calibration data has shape"):
        transform(path, 'builtin.module(tg-quantize{calibration="wrong.npy"})')


def test_fold_batchnorm_refuses_a_negative_variance(exported, tmp_path):
    path = exported("tiny_resnet")
    with np.load(path[:-5] + ".npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["bn1.running_var"] = -arrays["bn1.running_var"]
    np.savez(path[:-5] + ".npz", **arrays)
    with pytest.raises(BsirError, match=r"batch norm 'bn1\.running_var' has a variance"):
        transform(path, "builtin.module(tg-fold-batchnorm)")


def test_no_accumulator_can_overflow():
    """A layer built to overflow: small inputs (a high input fix position), weights whose
    own fix would be high too, and a large bias. The quantizer lowers the weight fix
    until 128 x sum|w| + |bias| fits int32 for every output channel, and the compiled
    program then runs bit for bit (before, GoogLeNet's fc overflowed in the simulator)."""
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.models.builder import GraphBuilder
    from bsir.passes.tg_quantize import accumulator_bound, fit_accumulator

    rng = np.random.default_rng(0)
    builder = GraphBuilder("overflow", (1, 64))
    weight = (rng.standard_normal((16, 64)) * 0.01).astype(np.float32)
    bias = np.full(16, 60.0, np.float32)
    w = builder.constant("fc.weight", weight)
    b = builder.constant("fc.bias", bias)
    y = builder.append(tg.MatmulOp(builder.input, w, b))
    built = builder.finish(y)
    x = (rng.standard_normal((1, 64)) * 1e-3).astype(np.float32)
    in_fix = quant.choose_fix_position(x)
    naive = quant.choose_fix_position(weight)
    assert accumulator_bound(weight, bias, in_fix, naive) > quant.INT32_MAX  # overflows today
    fitted = fit_accumulator(weight, bias, in_fix, naive)
    assert fitted < naive and accumulator_bound(weight, bias, in_fix, fitted) <= quant.INT32_MAX
    result = compile_module(built.module, built.arrays, "2x2",
                            options=CompileOptions(calibration=(x,)))
    quantized = next(op for op in only_graph(result.module).block.ops
                     if isinstance(op, aie2.LayerOp) and isinstance(op.inner, tg.MatmulOp))
    fixes = quantized.inner.quant
    in_ir, weight_ir = fixes.inputs.data[0].data, fixes.weight.data
    assert weight_ir < quant.choose_fix_position(weight)  # lowered from what it would be
    assert accumulator_bound(weight, bias, in_ir, weight_ir) <= quant.INT32_MAX
    result.verify([x])


def test_a_batch_norm_after_a_concatenation_compiles_and_verifies():
    """DenseNet's pattern (concat -> batch norm -> relu -> conv): the batch norm cannot
    fold backwards and becomes a depthwise 1x1 convolution, exact in float, and the
    INT8 program runs bit for bit (before: tg-quantize refused the graph)."""
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.models.builder import GraphBuilder
    from bsir.passes.tg_fold_batchnorm import fold_batchnorms
    from bsir.weights import materialize

    b = GraphBuilder("dense_block", (1, 12, 12, 8))
    x = b.relu(b.conv(b.input, 16, 3, "c1", pad=1))
    cat = b.concat([x, b.relu(b.conv(x, 16, 3, "c2", pad=1))])
    z = b.conv(b.relu(b.batch_norm(cat, "bn")), 16, 1, "c3")
    built = b.finish(b.linear(b.flatten(b.global_avgpool(z)), 10, "fc"))
    arrays = materialize(built.specs, 0)
    x_in = np.random.default_rng(1).standard_normal((1, 12, 12, 8)).astype(np.float32)
    folded_module = built.module.clone()
    folded = fold_batchnorms(folded_module, arrays)
    ops = [op for op in only_graph(folded_module).block.ops if isinstance(op, tg.Conv2dOp)]
    assert [op.group_count for op in ops] == [1, 1, 32, 1]
    assert not any(isinstance(op, tg.BatchNormOp) for op in folded_module.walk())
    reference = run_module(built.module.clone(), arrays, [x_in])[0]
    assert np.allclose(run_module(folded_module, folded, [x_in])[0], reference,
                       rtol=1e-5, atol=1e-5 * np.abs(reference).max())
    for grid in ("2x2", "3x5"):
        result = compile_module(built.module.clone(), arrays, grid,
                                options=CompileOptions(calibration=(x_in,)))
        assert result.failed is None
        result.verify([x_in])


def test_a_concatenated_value_that_another_layer_reads_keeps_one_fix_position():
    """DenseNet's features are written in place into a concatenation and read by the
    next layer too: both must see the same int8 values, so the value and the
    concatenation share a fix position (before: the other reader saw values moved to the
    concatenation's fix position, and --verify caught it)."""
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.models.builder import GraphBuilder
    from bsir.weights import materialize

    b = GraphBuilder("dense", (1, 8, 8, 8))
    pooled = b.maxpool(b.relu(b.conv(b.input, 16, 3, "c0", pad=1)), 2, 2)
    cat = b.concat([pooled, b.relu(b.conv(pooled, 8, 1, "c1"))])
    built = b.finish(b.linear(b.flatten(b.global_avgpool(b.conv(cat, 8, 1, "c2"))), 4, "fc"))
    arrays = materialize(built.specs, 0)
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 8)).astype(np.float32)
    result = compile_module(built.module.clone(), arrays, "2x2",
                            options=CompileOptions(calibration=(x,)))
    concat = next(op for op in result.module.walk() if isinstance(op, tg.ConcatOp))
    fixes = concat.quant
    assert fixes.input_positions[0] == fixes.output_position  # the shared input
    assert result.verify([x]).layers == len(result.layers)


def test_a_global_pool_too_large_for_a_core_is_split():
    """A global average pool over 112 x 112 (EfficientNet-B0's first squeeze-and-
    excitation) did not fit a core's input buffer; split into 2 x 2 blocks and a global
    pool over 56 x 56 it computes the same in float, maps, and verifies bit for bit."""
    from bsir.driver.compile import CompileOptions, compile_module
    from bsir.models.builder import GraphBuilder
    from bsir.passes.tg_split_global_pool import TgSplitGlobalPoolPass
    from bsir.weights import materialize

    b = GraphBuilder("big_pool", (1, 112, 112, 8))
    pooled = b.global_avgpool(b.relu(b.conv(b.input, 16, 3, "c1", pad=1)))
    built = b.finish(b.linear(b.flatten(pooled), 4, "fc"))
    arrays = materialize(built.specs, 0)
    x = np.random.default_rng(1).standard_normal((1, 112, 112, 8)).astype(np.float32)
    split = built.module.clone()
    TgSplitGlobalPoolPass().apply(None, split)  # type: ignore[arg-type]
    kinds = [op.name for op in only_graph(split).block.ops]
    assert kinds.count("tg.avgpool2d") == 1 and kinds.count("tg.global_avgpool") == 1
    reference = run_module(built.module.clone(), arrays, [x])[0]
    assert np.allclose(run_module(split, arrays, [x])[0], reference, rtol=1e-5, atol=1e-6)
    result = compile_module(built.module.clone(), arrays, "2x2",
                            options=CompileOptions(calibration=(x,)))
    assert result.failed is None
    assert result.verify([x]).layers == len(result.layers)
