"""DMA channels, buffer descriptors and locks: every generated program keeps within the
tiles' budgets, and a smaller budget is a diagnostic naming the tile and the resource."""

from math import ceil

import pytest

from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module, load_source
from bsir.targets.aie2.channels import ChannelBudgetError, layer_plan, plan_channels
from bsir.targets.aie2.hardware import PRESETS, resolve_array
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.mapping import Split
from bsir.targets.aie2.program import Subvolume

SMALL = ("tiny_cnn", "tiny_resnet", "tiny_inception")
GRIDS = [f"{r}x{c}" for r in range(1, 9) for c in range(1, 9)]


def _layers(result):
    return [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]


def check_budgets(result) -> None:
    """Count each layer's concurrent streams per memtile from its split, independently of
    the plan, and check the shares the program records carry them on the channels."""
    array = result.array
    per_memtile = ceil(array.cols / len(array.activation_memtiles))
    for layer in _layers(result):
        split, shape = Split.of(layer), layer_shape(layer.inner)
        rows = split.rows_in_use
        writes = rows * per_memtile
        # weights: a stream per row (w; per channel slice of a row part when the rows
        # also split output rows), per core (cout), one for all cores (h)
        streams = {"w": rows // split.parts, "cout": rows // split.parts * array.cols,
                   "h": 1}[split.column_mode]
        weights = ceil(streams / len(array.weight_memtiles))
        sums = Subvolume.of(layer).sums_in_memtile
        for op in layer.instructions:
            if isinstance(op, aie2.WriteFMOp):
                assert op.shares == ceil(writes / array.memtile_s2mm), layer.layer_name
                assert op.shares * array.memtile_s2mm >= writes
            elif isinstance(op, aie2.LoadWDMOp):
                assert op.shares == ceil(weights / array.memtile_mm2s), layer.layer_name
            elif isinstance(op, aie2.LoadFMOp):
                # a broadcast per column ("w") or per memtile ("cout"), and per
                # output-row part of the rows
                cores = (per_memtile if split.column_mode == "w" else 1) * split.parts
                if not (shape.weighted and shape.groups == 1) \
                        or split.column_mode == "h":  # every core its own input,
                    cores = rows * (array.cols if split.column_mode == "cout"   # with its
                                    else per_memtile)   # sums and residual after it
                else:  # a broadcast input: a core's own sums and residual apart
                    if sums:
                        cores += rows * per_memtile
                    if shape.residual:
                        cores += rows * (array.cols if split.column_mode == "cout"
                                         else per_memtile)
                assert op.shares == ceil(cores / array.memtile_mm2s)
        # descriptors are rewritten between input-channel chunks (after a halting
        # weight load): the sizes of one chunk position at a time
        sizes = {}
        for op in layer.instructions:
            if isinstance(op, aie2.LoadFMOp | aie2.WriteFMOp):
                chunk = op.phase.data.partition(".")[2]
                sizes.setdefault((chunk, type(op)), set()).add(op.nbytes)
        plan = layer_plan(shape, array, split.column_mode, rows, sums, split.parts)
        plan.check_descriptors(
            max(len(v) for (_, kind), v in sizes.items() if kind is aie2.LoadFMOp),
            max(len(v) for (_, kind), v in sizes.items() if kind is aie2.WriteFMOp))


@pytest.mark.parametrize("model", SMALL)
@pytest.mark.parametrize("grid", GRIDS)
def test_small_models_keep_within_the_budgets_on_every_grid(model, grid):
    module, arrays, _ = load_source(model)
    result = compile_module(module, arrays, grid, "shared", CompileOptions(quantize=False))
    assert result.failed is None
    check_budgets(result)


@pytest.mark.parametrize("model", ["resnet50", "inception_v3", "vgg16"])
@pytest.mark.parametrize("grid", [f"{n}x{n}" for n in range(1, 9)] + ["7x3", "ryzen-ai-strix"])
def test_paper_models_keep_within_the_budgets(model, grid):
    module, arrays, _ = load_source(model)
    memtiles = "separate" if grid == "ryzen-ai-strix" else "shared"
    result = compile_module(module, arrays, grid, memtiles, CompileOptions(quantize=False))
    assert result.failed is None
    check_budgets(result)


def test_eight_rows_take_turns_on_the_memtile_channels():
    plan = plan_channels(resolve_array("8x8"), "w")
    assert (plan.write_share, plan.input_share, plan.weight_share) == (2, 1, 1)
    assert plan.route("WRITEFM", 7, 3) == "core (3,9) MM2S 0 -> memtile (3,1) S2MM 1 " \
                                          "(shared by 2)"
    assert plan_channels(resolve_array("8x8"), "w", rows=6).write_share == 1
    cout = plan_channels(resolve_array("8x8"), "cout")
    assert cout.weight_share == 2  # 8 cores a memtile, each its own weights, 6 channels
    assert plan_channels(resolve_array("4x4"), "cout").shares == plan.shares.__class__()
    assert plan_channels(PRESETS["npu2"], "w").shares == plan.shares.__class__()


@pytest.mark.parametrize("field, value, message", [
    ("memtile_s2mm", 1, "memtile (0,1): 2 S2MM channels needed, 1 available"),
    ("shim_mm2s", 1, "shim (0,0): 2 MM2S channels needed, 1 available"),
    ("ddr_channels_per_memtile", 3, "memtile (0,1): 3 MM2S channels needed, 2 available"),
])
def test_too_few_channels_name_the_tile(field, value, message):
    from dataclasses import replace

    array = replace(resolve_array("2x2"), **{field: value})
    if field == "ddr_channels_per_memtile":
        array = replace(array, memtile_mm2s=2)
    with pytest.raises(ChannelBudgetError) as error:
        plan_channels(array, "w")
    assert error.value.message == message


def test_too_few_descriptors_and_locks_name_the_tile():
    from dataclasses import replace

    plan = plan_channels(replace(resolve_array("4x4"), core_bds=8), "w")
    with pytest.raises(ChannelBudgetError, match=r"core \(0,2\): 11 buffer descriptors "
                                                 r"needed, 8 available"):
        plan.check_descriptors(3, 2)
    plan = plan_channels(replace(resolve_array("8x8"), memtile_bds=8), "w")
    with pytest.raises(ChannelBudgetError, match=r"memtile \(0,1\): \d+ buffer descriptors "
                                                 r"of even channels needed, 4 available"):
        plan.check_descriptors(3, 2)
    plan = plan_channels(replace(resolve_array("8x8"), locks_per_memtile=8), "w")
    with pytest.raises(ChannelBudgetError, match=r"memtile \(0,1\): \d+ locks needed, "
                                                 "8 available"):
        plan.check_descriptors(1, 1)


def test_a_toml_with_fewer_channels_is_a_one_line_error(tmp_path, capsys):
    from bsir.tools import bsir_cli

    toml = tmp_path / "few.toml"
    toml.write_text('rows = 8\ncols = 8\n[dma]\nmemtile_s2mm = 1\n')
    assert bsir_cli.main(["compile", "tiny_cnn", "--grid", str(toml)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("memtile (0,1): 2 S2MM channels needed, 1 available")
    assert len(err.splitlines()) == 1
