"""The AIE2 hardware model: defaults, presets, grids and TOML files."""

import pytest

from bsir.diagnostics import BsirError
from bsir.targets.aie2.hardware import PRESETS, AIE2Array, CoreLayout, parse_grid, resolve_array


def test_defaults_follow_the_paper():
    array = AIE2Array()
    assert (array.rows, array.cols, array.memtiles) == (4, 4, 4)
    assert array.memtile_bytes == 512 * 1024 and array.core_memory == 64 * 1024
    assert 2 * array.input_buffer + 2 * array.output_buffer + array.weight_buffer \
        + array.scratch_bytes == array.core_memory
    assert array.macs_per_second == 256e9
    assert array.ddr_load_bandwidth() == 4e9 and array.ddr_store_bandwidth() == 8e9
    separate = resolve_array("4x4", "separate")
    assert separate.ddr_load_bandwidth() == 8e9
    assert separate.activation_memtiles == (0, 2) and separate.weight_memtiles == (1, 3)


@pytest.mark.parametrize("spec, shape", [("4x5", (4, 5)), ("8x4", (8, 4)), ("1x1", (1, 1)),
                                         ("ryzen-ai-strix", (4, 8)), ("aie2-6x6", (6, 6))])
def test_resolve(spec, shape):
    array = resolve_array(spec)
    assert (array.rows, array.cols) == shape


@pytest.mark.parametrize("spec, message", [
    ("4by4", "a grid is ROWSxCOLS"), ("9x2", "1..8 x 1..8"), ("0x3", "1..8 x 1..8"),
])
def test_bad_grids(spec, message):
    with pytest.raises(BsirError, match=message):
        resolve_array(spec)


def test_separate_needs_two_columns():
    with pytest.raises(BsirError, match="separate memtiles need at least 2 columns"):
        resolve_array("2x1", "separate")


def test_toml(tmp_path):
    good = tmp_path / "npu.toml"
    good.write_text('name = "npu"\nrows = 2\ncols = 6\n[memtile]\nbytes = 262144\n'
                    'mode = "separate"\n[bandwidth]\nlink = 8.0\n[compute]\nclock_ghz = 1.25\n')
    array = resolve_array(str(good))
    assert (array.name, array.rows, array.cols, array.memtile_bytes) == ("npu", 2, 6, 262144)
    assert array.link_gbps == 8.0 and array.clock_ghz == 1.25 and array.memtile_mode == "separate"
    bad = tmp_path / "bad.toml"
    bad.write_text("rows = 2\n[core]\ninput_buffers = 4\n")
    with pytest.raises(BsirError, match=r"unknown key 'core\.input_buffers'"):
        resolve_array(str(bad))
    bad.write_text('rows = "two"\n')
    with pytest.raises(BsirError, match="'rows' must be int"):
        resolve_array(str(bad))
    bad.write_text("[core]\nweight_buffer = 65536\n")
    with pytest.raises(BsirError, match="core buffers take"):
        resolve_array(str(bad))
    bad.write_text("rows = \n")
    with pytest.raises(BsirError, match=r"bad\.toml"):
        resolve_array(str(bad))


def test_dma_budgets_and_bandwidth_units(tmp_path):
    array = AIE2Array()
    assert (array.memtile_mm2s, array.memtile_s2mm, array.core_mm2s, array.core_s2mm,
            array.shim_mm2s, array.shim_s2mm) == (6, 6, 2, 2, 2, 2)
    assert (array.memtile_bds, array.core_bds, array.locks_per_memtile,
            array.locks_per_core) == (48, 16, 64, 16)
    hw = tmp_path / "hw.toml"
    hw.write_text('[bandwidth]\nlink = "4 GiB/s"\nddr_channel = "3.5 GB/s"\n'
                  "[dma]\nmemtile_s2mm = 4\ncore_bds = 12\nmemtile_locks = 32\n")
    array = resolve_array(str(hw))
    assert array.link_gbps == 4 * 2**30 / 1e9 and array.ddr_channel_gbps == 3.5
    assert (array.memtile_s2mm, array.core_bds, array.locks_per_memtile) == (4, 12, 32)
    hw.write_text('[bandwidth]\nlink = "4 Gbit/s"\n')
    with pytest.raises(BsirError, match=r"bandwidth\.link must be a number of GB/s"):
        resolve_array(str(hw))
    hw.write_text("[dma]\ncore_mm2s = 0\n")
    with pytest.raises(BsirError, match=r"dma\.core_mm2s must be a positive integer, got 0"):
        resolve_array(str(hw))


def test_device_presets_and_presets_on_other_grids():
    assert (PRESETS["npu1"].rows, PRESETS["npu1"].cols) == (4, 4)
    assert (PRESETS["npu2"].rows, PRESETS["npu2"].cols) == (4, 8)
    paper = resolve_array("paper-8x8")
    assert (paper.name, paper.rows, paper.cols) == ("paper-8x8", 8, 8)
    assert paper.link_bandwidth() == 4 * 2**30 and paper.ddr_load_bandwidth() == 4 * 2**30
    assert resolve_array("npu2-4x6").cols == 6 and resolve_array("aie2-4x5").name == "aie2-4x5"
    with pytest.raises(BsirError, match="a grid is ROWSxCOLS"):
        resolve_array("nosuch-4x4")


def test_presets_cover_the_paper_grids():
    for n in range(1, 9):
        assert PRESETS[f"aie2-{n}x{n}"].cores == n * n
    assert parse_grid(" 3X7 ") == (3, 7)


def test_the_array_survives_the_ir_exactly():
    """#tiling.array holds every field of the array, floats included, through text."""
    from dataclasses import fields, replace

    from xdsl.dialects.builtin import ModuleOp

    from bsir.dialects import tiling
    from bsir.ir import parse_module, print_module
    from bsir.targets.aie2.hardware import array_from_attr, array_to_attr, module_array

    array = replace(resolve_array("3x5"), name="odd", ddr_channel_gbps=3.7254,
                    link_gbps=1e-3 * 4096.5, clock_ghz=1.25e-1 * 9, locks_per_memtile=48,
                    ddr_channels_per_memtile=3)
    assert array_from_attr(array_to_attr(array)) == array
    names = set(tiling.HardwareAttr.names())
    assert names == {f.name for f in fields(array)} - {"name"} | {"array_name"}
    module = ModuleOp([])
    module.attributes[tiling.ARRAY_ATTR] = array_to_attr(array)
    assert module_array(parse_module(print_module(module))) == array


def test_partial_sum_slots_fill_the_output_buffers_then_the_scratch():
    layout = CoreLayout.of(resolve_array("4x4"))
    assert layout.sum_regions == ((16384, 16384), (49152, 16384))
    assert layout.sum_slots(12544) == 2  # one slot in each region, none straddling
    assert [layout.sum_slot(i, 12544) for i in range(3)] == [0, 32768, None]
    assert layout.sum_slots(4096) == 8 and layout.sum_slot(4, 4096) == 32768
