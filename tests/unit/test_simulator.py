"""The functional simulator: compiled programs compute the reference's numbers, and a
broken program (one address, one lock) is caught, naming the instruction."""

import re
from pathlib import Path

import numpy as np
import pytest
from search_space import without_columns_inside
from xdsl.dialects.builtin import IntegerAttr, i64

from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.driver import verify
from bsir.driver.compile import CompileOptions, compile_module
from bsir.driver.verify import VerificationError, verify_compiled
from bsir.executor import Executor, random_inputs
from bsir.models import build_model
from bsir.models.builder import GraphBuilder
from bsir.targets.aie2 import core_kernels
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.simulator import SimulationError, Simulator
from bsir.tools import bsir_cli
from bsir.weights import materialize


def compiled(model="tiny_resnet", grid="2x2", sparsity=0.5, memtiles="shared", seed=1):
    built = build_model(model)
    x = random_inputs(built.module, seed, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), grid, memtiles,
                            CompileOptions(sparsity, calibration=tuple(x)))
    assert result.failed is None
    return result, x


def layers_of(result):
    return [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]


@pytest.mark.parametrize("model,grid,sparsity,memtiles", [
    ("tiny_cnn", "1x1", 0.0, "shared"),
    ("tiny_cnn", "8x8", 0.5, "separate"),
    ("tiny_resnet", "2x2", 0.5, "shared"),
    ("tiny_resnet", "3x5", 0.0, "separate"),
    ("tiny_resnet", "8x8", 0.75, "shared"),
    ("tiny_inception", "4x4", 0.5, "shared"),
    ("tiny_inception", "2x6", 0.25, "separate"),
])
def test_programs_match_the_reference_bit_for_bit(model, grid, sparsity, memtiles):
    result, x = compiled(model, grid, sparsity, memtiles)
    report = verify_compiled(result.module, result.weights, x)
    assert report.layers == len(layers_of(result))
    assert report.elements > 0


def test_simulated_outputs_equal_the_executor_on_the_compiled_module():
    result, x = compiled("tiny_inception", "3x3", 0.5)
    simulated = Simulator(result.module, result.weights).run(x)
    expected = Executor(result.module, result.weights).run(x)
    assert len(simulated) == len(expected)
    for got, want in zip(simulated, expected, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def _busiest(result, kind=aie2.LoadFMOp):
    """The layer with the most iterations among those with a ``kind`` instruction."""
    return max((layer for layer in layers_of(result)
                if any(isinstance(op, kind) for op in layer.instructions)),
               key=lambda layer: layer.subvolume.get("iterations"))


def _perturbed(result, x, kind, field, delta, layer=None, op=None):
    """The error a program raises with ``field`` of one instruction moved by ``delta``
    (``op``, or the first ``kind`` of ``layer``, by default the busiest layer's)."""
    layer = layer or _busiest(result, kind)
    op = op or next(o for o in layer.instructions if isinstance(o, kind))
    old = op.field(field, aie2.NO_LOCK)
    op.properties[field] = IntegerAttr(old + delta, i64)
    try:
        with pytest.raises((SimulationError, VerificationError)) as caught:
            verify_compiled(result.module, result.weights, x)
    finally:
        op.properties[field] = IntegerAttr(old, i64)
    return str(caught.value)


@pytest.fixture(scope="module")
def program():
    return compiled("tiny_resnet", "1x1", 0.5)


@pytest.mark.parametrize("kind,field,delta,message", [
    (aie2.LoadFMOp, "memtile", 64, "reads"),
    (aie2.LoadFMOp, "memtile", 1, "reads"),
    (aie2.LoadFMOp, "core", 64, ""),
    (aie2.WriteFMOp, "memtile", 64, ""),
    (aie2.WriteFMOp, "core", 8, ""),
    (aie2.LoadWDMOp, "memtile", 8, "LOADWDM"),
    (aie2.LoadWDMOp, "core", 8, ""),
    (aie2.LoadWOp, "memtile", 64, "LOADWDM reads"),
    # WRITEFM runs before COMP: a filled output, or the partial sums of a CIN-split
    (aie2.LoadFMOp, "release", 1, "not filled|were not computed"),
    (aie2.CompOp, "acquire", 1, "deadlock"),
    (aie2.WriteFMOp, "release", -1, "lock k0 ends a stream"),
    (aie2.LoadFMOp, "acquire", -1, ""),
])
def test_a_broken_lowering_is_caught(program, kind, field, delta, message):
    result, x = program
    text = _perturbed(result, x, kind, field, delta)
    assert re.search(message, text), text
    assert "\n" not in text and "layer '" in text
    verify_compiled(result.module, result.weights, x)  # restored: passes again


def test_a_lock_that_lets_loads_run_ahead_clobbers_a_buffer():
    builder = GraphBuilder("rows", (1, 40, 40, 16))
    built = builder.finish(builder.relu(builder.conv(builder.input, 32, 3, "conv", pad=1)))
    x = random_inputs(built.module, 0, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), "1x1",
                            options=CompileOptions(calibration=tuple(x)))
    verify_compiled(result.module, result.weights, x)
    layer = layers_of(result)[0]
    assert sum(op.iterations for op in layer.instructions if isinstance(op, aie2.LoadFMOp)) >= 3
    old = layer.locks
    layer.properties["locks"] = aie2.LocksAttr.make(init=[3, 0, 0])
    try:
        with pytest.raises(SimulationError, match="overwrites input buffer 0 before COMP"):
            verify_compiled(result.module, result.weights, x)
    finally:
        layer.properties["locks"] = old


def test_an_output_written_out_of_bounds_is_reported(program):
    result, x = program
    text = _perturbed(result, x, aie2.WriteFMOp, "memtile", 10**6)
    assert "writes outside the memtiles" in text


def test_a_wrong_weight_is_reported_with_layer_and_element(program, monkeypatch):
    result, x = program
    layer = _busiest(result, aie2.LoadWDMOp)
    key = layer.inner.weight.owner.key.data
    broken = dict(result.weights)
    broken[key] = broken[key].copy()
    index = tuple(int(i) for i in np.argwhere(broken[key] != 0)[0])
    broken[key][index] = -broken[key][index]
    # the program runs on the broken weights, the reference on the right ones
    monkeypatch.setattr(verify, "Simulator", lambda module, _: Simulator(module, broken))
    with pytest.raises(VerificationError, match=rf"layer '{layer.layer_name.data}' differs "
                       r"from the reference: element \["):
        verify_compiled(result.module, result.weights, x)


def test_accumulator_overflow_is_an_error():
    with pytest.raises(core_kernels.AccumulatorOverflow, match="int32"):
        core_kernels.check_int32(np.array([2**31], dtype=np.int64))


def test_float_programs_are_refused():
    built = build_model("tiny_cnn")
    result = compile_module(built.module, materialize(built.specs, 0), "2x2",
                            options=CompileOptions(quantize=False))
    x = random_inputs(result.module, 0, 1)[0]
    with pytest.raises(SimulationError, match="not quantized"):
        Simulator(result.module, result.weights).run(x)


def test_compile_verify_on_the_command_line(tmp_path, capsys):
    x = random_inputs(build_model("tiny_cnn").module, 3, 1)[0][0]
    np.save(tmp_path / "x.npy", x)
    code = bsir_cli.main(["compile", "tiny_cnn", "--grid", "3x2", "--sparsity", "0.5",
                          "--verify", "--input", str(tmp_path / "x.npy")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "verified: the simulated program matches the reference executor" in out.out


def test_compile_verify_rejects_a_wrong_input_shape(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 3, 3), np.float32))
    code = bsir_cli.main(["compile", "tiny_cnn", "--verify", "--input",
                          str(tmp_path / "x.npy")])
    err = capsys.readouterr().err
    assert code == 1 and "input 0 has shape" in err and len(err.strip().splitlines()) == 1


def _joins(kind: str):
    """Concatenations no producer can write in place alone: a value joined twice, the
    graph input, a value joined into two concatenations at different offsets, a
    constant (a class token) joined before tokens, as stored or seen through a
    reshape (with a reshaped table added after the join)."""
    if kind in ("tokens", "reshaped"):  # a constant token, as stored or reshaped
        b = GraphBuilder(kind, (16, 8))
        x = b.linear(b.input, 8, "fc0")
        token = b.weight("token", (1, 8), "embedding") if kind == "tokens" else \
            b.reshape(b.weight("token", (8,), "embedding"), (1, 8))
        x = b.softmax(b.concat([token, x], axis=0))
        if kind == "reshaped":  # and a table added, reshaped too
            x = b.add(x, b.reshape(b.weight("table", (136,), "embedding"), (17, 8)))
        return b.finish(b.linear(x, 4, "fc1"))
    b = GraphBuilder(kind, (1, 6, 6, 4))
    y = b.relu(b.conv(b.input, 4, 1, "c0"))
    if kind == "twice":
        x = b.concat([y, y])
    elif kind == "input":
        x = b.concat([b.input, y])
    else:  # y after z in one join, before it in the next
        z = b.relu(b.conv(b.input, 8, 3, "c1", pad=1))
        x = b.concat([b.conv(b.concat([z, y]), 4, 1, "c2"), y, z])
    return b.finish(b.conv(x, 4, 1, "out"))


@pytest.mark.parametrize("kind", ["twice", "input", "reordered", "tokens", "reshaped"])
@pytest.mark.parametrize("grid", ["2x2", "3x5"])
def test_concatenation_inputs_no_layer_writes_in_place_are_copied_in(kind, grid):
    """convert-tg-to-tiling copies such an input in (a layer of its own, a slice of the
    whole tensor, named after the concatenation); the program is bit for bit the
    reference's."""
    built = _joins(kind)
    x = random_inputs(built.module, 2, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), grid,
                            options=CompileOptions(calibration=tuple(x)))
    copies = [layer.name for layer in result.layers if ".copy" in layer.name]
    assert copies and all(re.fullmatch(r"concat_\d+\.copy\d", name) for name in copies)
    assert result.verify(x).layers == len(result.layers)


def test_a_prefix_join_shares_the_buffer_of_the_join_before_it():
    """DenseNet joins its features again and again, each join the last one and more: the
    earlier join's buffer lies inside the later one's, so nothing is copied."""
    b = GraphBuilder("dense", (1, 6, 6, 4))
    y = b.relu(b.conv(b.input, 4, 1, "c0"))
    first = b.concat([y, b.relu(b.conv(y, 4, 3, "c1", pad=1))])
    second = b.concat([y, first.owner.inputs[1], b.relu(b.conv(first, 4, 1, "c2"))])
    built = b.finish(b.conv(second, 4, 1, "out"))
    x = random_inputs(built.module, 2, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), "2x2",
                            options=CompileOptions(calibration=tuple(x)))
    assert not [layer for layer in result.layers if ".copy" in layer.name]
    assert result.verify(x).layers == len(result.layers)


def test_layers_streamed_band_by_band_through_ddr_are_bit_exact():
    """2 KiB memtiles: layers run in row bands; a convolution with a fused addition
    loads each band of its residual and writes its output band over it."""
    hardware = str(Path(__file__).parents[1] / "filecheck/passes/Inputs/2k-memtile.toml")
    result, x = compiled("tiny_resnet", hardware, 0.5)
    assert any(layer.ddr.get("h_passes") > 1 and layer_shape(layer.inner).residual
               for layer in layers_of(result))
    verify_compiled(result.module, result.weights, x)


def test_a_layer_whose_every_block_is_pruned_moves_no_weights():
    """One 8x8 block per layer at 75 %: the second convolution keeps none and has no bias."""
    builder = GraphBuilder("pruned", (1, 6, 6, 8))
    y = builder.relu(builder.conv(builder.input, 8, 1, "conv0"))
    built = builder.finish(builder.conv(y, 8, 1, "conv1", bias=False))
    x = random_inputs(built.module, 0, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), "2x2", "shared",
                            CompileOptions(0.75, calibration=tuple(x)))
    last = layers_of(result)[-1]
    assert last.compaction.get("kept_blocks") == 0
    assert not any(isinstance(op, aie2.LoadWOp) for op in last.body.block.ops)
    verify_compiled(result.module, result.weights, x)


def test_a_sparse_layer_run_with_its_zeros_is_bit_exact():
    result, x = compiled("tiny_cnn", "8x8", 0.5, "separate")
    kept = [layer for layer in layers_of(result) if layer.keeps_zeros is not None]
    assert kept and all(layer.compaction is None for layer in kept)
    assert all(timed.keeps_zeros == (op.keeps_zeros is not None)
               for op, timed in zip(layers_of(result), result.layers, strict=True))
    verify_compiled(result.module, result.weights, x)


def deep_program(size: int, channels: int, kernel: tuple[int, int], cout: int, grid: str,
                 sparsity: float):
    """A convolution over many channels, then a 1x1 one: its weights overflow a core, so
    it runs weight-stationary input-channel chunks."""
    builder = GraphBuilder("deep", (1, size, size, channels))
    pad = (kernel[0] // 2, kernel[1] // 2)
    y = builder.relu(builder.conv(builder.input, cout, kernel, "conv", pad=pad))
    built = builder.finish(builder.conv(y, 64, 1, "conv1x1"))
    x = random_inputs(built.module, 0, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), grid, "shared",
                            CompileOptions(sparsity, calibration=tuple(x)))
    assert result.failed is None
    return result, x


@pytest.fixture(scope="module")
def memtile_sums_program():
    """InceptionV3's Mixed_6e 1x7 convolution (17x17, 192 -> 192), dense on 2x2: a core's
    17x17x48 block has too many partial sums for its output buffers and scratch, so they
    go through the memtile between chunks."""
    return deep_program(17, 192, (1, 7), 192, "2x2", 0.0)


@pytest.fixture(scope="module")
def scratch_sums_program():
    """ResNet50's layer3 3x3 shape: a core's partial sums fit its scratch memory, and
    its column chunks (all rows high) stream through each chunk's weights."""
    return deep_program(14, 256, (3, 3), 256, "4x4", 0.5)


@pytest.fixture(scope="module")
def columns_outside_program():
    """The same, mapped without the column chunks inside the chunk loop: each column
    chunk runs the chunk loop over its row blocks (the order the mapper picks where a
    whole-height tile does not fit)."""
    with without_columns_inside():
        return deep_program(14, 256, (3, 3), 256, "4x4", 0.5)


@pytest.mark.parametrize("fixture,code", [("memtile_sums_program", 2),
                                          ("columns_outside_program", 3),
                                          ("scratch_sums_program", 4)])
def test_weight_stationary_partial_sums_are_bit_exact(request, fixture, code):
    result, x = request.getfixturevalue(fixture)
    conv = layers_of(result)[0]
    assert conv.subvolume.get("cin_split") == code
    phases = {op.phase.data for op in conv.instructions if isinstance(op, aie2.LoadFMOp)}
    assert {p.partition(".")[2] for p in phases} >= {"first", "last"}
    writes = {op.phase.data for op in conv.instructions if isinstance(op, aie2.WriteFMOp)}
    assert (writes == {p for p in phases if p.endswith(".last")}) == (code in (3, 4))
    report = verify_compiled(result.module, result.weights, x)
    assert report.layers == 2


def test_the_estimate_charges_every_weight_byte_the_cores_load(scratch_sums_program):
    result, x = scratch_sums_program
    conv = layers_of(result)[0]
    load = next(op for op in conv.instructions if isinstance(op, aie2.LoadWDMOp))
    assert load.moved_bytes <= load.nbytes * load.repeats
    # charged exactly: one byte less and the simulator finds the cores loading more
    moved = load.moved_bytes
    load.properties["moved"] = IntegerAttr(moved - 1, i64)
    try:
        with pytest.raises(SimulationError, match="more than the") as caught:
            verify_compiled(result.module, result.weights, x)
    finally:
        load.properties["moved"] = IntegerAttr(moved, i64)
    assert "layer '" in str(caught.value)


def test_output_rows_split_over_core_rows_are_bit_exact():
    result, x = compiled("tiny_resnet", "4x4", 0.0)
    # "h" splits, and "w"/"cout" splits whose core rows form output-row parts
    split = [layer for layer in layers_of(result)
             if layer.split.get("mode") == "h" or layer.split.get("parts") > 1]
    assert any(layer_shape(layer.inner).kernel == (3, 3) for layer in split)
    assert any(layer.split.get("parts") > 1 for layer in split)
    # (3x3 windows overlap between the cores' row slices)
    verify_compiled(result.module, result.weights, x)


@pytest.mark.parametrize("phase,field,delta,message", [
    ("first", "memtile", 64, "clobbers|reads"),   # partial sums written elsewhere
    ("last", "sums", 4, "differs|reads never"),    # sums read 4 bytes off
    ("last", "sums", -1, "reads"),                 # bytes no partial sum owns
])
def test_misplaced_partial_sums_are_caught(memtile_sums_program, phase, field, delta,
                                           message):
    result, x = memtile_sums_program
    conv = layers_of(result)[0]
    kind = aie2.WriteFMOp if field == "memtile" else aie2.LoadFMOp
    op = next(o for o in conv.instructions if isinstance(o, kind)
              and o.phase.data.endswith("." + phase))
    text = _perturbed(result, x, kind, field, delta, op=op)
    assert re.search(message, text), text
    assert "layer 'conv'" in text


@pytest.mark.parametrize("phase,delta,message", [
    ("middle", 4, "differs|reads never"),  # sums read 4 bytes off
    ("last", -4096, "outside the output"), # in the input buffers
    ("first", 16 * 1024, "outside the output"),  # in the weights
])
def test_misplaced_scratch_sums_are_caught(scratch_sums_program, phase, delta, message):
    result, x = scratch_sums_program
    conv = layers_of(result)[0]
    op = next(o for o in conv.instructions if isinstance(o, aie2.CompOp)
              and o.phase.data.endswith("." + phase))
    text = _perturbed(result, x, aie2.CompOp, "sums", delta, op=op)
    assert re.search(message, text), text
    assert "layer 'conv'" in text


def test_a_missing_writefm_is_caught_where_results_or_partial_sums_leave(
        memtile_sums_program):
    result, x = compiled("tiny_resnet", "2x2", 0.0)
    layer = _busiest(result, aie2.WriteFMOp)
    next(o for o in layer.instructions if isinstance(o, aie2.WriteFMOp)).detach()
    with pytest.raises((SimulationError, VerificationError)) as caught:
        verify_compiled(result.module, result.weights, x)
    assert "has no WRITEFM" in str(caught.value)
    # a chunk before the last sends its partial sums to the memtile: it must write too
    result, x = memtile_sums_program
    conv = layers_of(result)[0]
    op = next(o for o in conv.instructions if isinstance(o, aie2.WriteFMOp)
              and o.phase.data.endswith(".first"))
    block, after = op.parent_block(), op.next_op
    op.detach()
    try:
        with pytest.raises((SimulationError, VerificationError)) as caught:
            verify_compiled(result.module, result.weights, x)
    finally:
        block.insert_op_before(op, after)
    assert "has no WRITEFM" in str(caught.value)
