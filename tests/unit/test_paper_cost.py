"""``--cost-model paper``: the paper's estimator (rules R1-R6) rebuilt, checked on its
worked example and by hand on a sparse layer."""

from itertools import pairwise
from math import ceil

import pytest

from bsir.dialects import aie2
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module, load_source
from bsir.targets.aie2.hardware import PRESETS
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.paper_cost import PaperIteration, pad8

PAPER = PRESETS["paper"]
GIB = 2**30


def test_the_worked_example_of_resnet50_layer1_0_conv2():
    """layer1.0.conv2 on 4x4 dense, as the paper's log gives it: WC [16,3,3,64],
    IC [1,8,16,64], OC [1,6,14,64], 10 iterations (head, 8 body, tail); LOADW 2.220 and
    LOADWM 2.213 us as logged. The span is 195.43 us."""
    iteration = PaperIteration(in_tile=(8, 16, 64), out_tile=(6, 14, 64), kernel=(3, 3),
                               cin_w=64)
    assert iteration.comp_cycles(PAPER) == 18432  # 18.432 us at 1 GHz (real MACs: 3.024)
    head = iteration.group(1, 1, PAPER).duration
    body = iteration.group(8, 1, PAPER).duration
    assert head == pytest.approx(21.77e-6, abs=0.005e-6)
    assert body == pytest.approx(8 * 18.432e-6, rel=1e-12)
    loadw, loadwm = 2.220e-6, 2.213e-6
    assert loadw + loadwm + head + body + head == pytest.approx(195.43e-6, abs=0.01e-6)


def test_bsir_maps_that_layer_as_the_paper_did_and_times_it_by_the_same_rules():
    """On the paper preset, among the paper's splits, bsir's mapper picks the logged
    subvolume for layer1.0.conv2; under the paper's rules it differs from the log only
    by the weight bytes (bsir loads 4 bias bytes per output channel, the log's format
    has more)."""
    module, arrays, _ = load_source("resnet50")
    result = compile_module(module, arrays, "paper", options=CompileOptions(
        quantize=False, cost_model="paper", row_parts=False))
    layer = next(t for t in result.layers if t.name == "layer1.0.conv2")
    assert layer.split["subvolume"] == [6, 14, 16, 64]
    weights = 16 * 3 * 3 * 64 + 16 * 4
    weight_s = weights / (4 * GIB) * 2  # LOADW (per memtile) and LOADWDM
    stream = 2 * (8 * 16 * 64 / (4 * GIB) + 18.432e-6 + 6 * 16 * 64 / (4 * GIB)) \
        + 8 * 18.432e-6
    assert layer.total_s == pytest.approx(weight_s + stream, rel=1e-12)
    assert layer.total_s == pytest.approx(195.32e-6, abs=0.01e-6)


def test_r1_by_hand_on_a_sparse_layer():
    """COMP of a block-sparse layer = ceil(IC_h IC_w IC_c KH KW CIN_w d / 256) cycles,
    d the kept fraction of its blocks; LOADFM pads the tile's columns to 8 (R2);
    WRITEFM moves every output channel of the column (R3)."""
    module, arrays, _ = load_source("resnet50")
    result = compile_module(module, arrays, "paper", options=CompileOptions(
        sparsity=0.5, quantize=False, cost_model="paper"))
    ops = {op.layer_name.data: op for op in only_graph(result.module).block.ops
           if isinstance(op, aie2.LayerOp)}
    timed = next(t for t in result.layers if t.name == "layer2.0.conv2")
    op = ops["layer2.0.conv2"]
    assert op.compaction is not None and op.keeps_zeros is None
    sub = op.subvolume.as_dict()
    density = op.compaction.get("kept_blocks") / op.compaction.get("total_blocks")
    assert 0.4 < density < 0.6
    in_c = sub["input_bytes"] // (sub["in_h"] * sub["in_w"])
    cycles = ceil(sub["in_h"] * sub["in_w"] * in_c * 3 * 3 * sub["cin"] * density / 256)
    comp = [e for e in timed.events if e.name.startswith("COMP") and e.track == "core 0,0"]
    assert comp and all(e.args["macs"] == cycles * 256 for e in comp)
    rows = sum(1 for a, b in pairwise(timed.split["rows"]) if b > a)
    loadfm = [e for e in timed.events if e.name.startswith("LOADFM")]
    writefm = [e for e in timed.events if e.name.startswith("WRITEFM")]
    parts = timed.split["parts"]  # output-row parts of the rows, each its own tile
    links = rows if timed.split["mode"] == "h" else parts  # "h": every core row its own
    assert all(e.args["bytes"] == sub["in_h"] * pad8(sub["in_w"]) * in_c * links
               for e in loadfm)
    assert all(e.args["bytes"] == sub["h"] * pad8(sub["w"]) * sub["cout"] * rows * parts
               for e in writefm)


def test_the_paper_rules_charge_one_input_channel_chunk_and_one_weight_chunk():
    """R6 and R4 on a layer split over input channels (VGG16 on 2x2)."""
    module, arrays, _ = load_source("vgg16")
    honest = compile_module(module.clone(), arrays, "paper-2x2",
                            options=CompileOptions(quantize=False))
    paper = compile_module(module, arrays, "paper-2x2",
                           options=CompileOptions(quantize=False, cost_model="paper"))
    split = [t for t in honest.layers if t.split.get("cin_split")]
    assert split, "VGG16 on 2x2 splits some layer over input channels"
    ops = {op.layer_name.data: op for op in only_graph(paper.module).block.ops
           if isinstance(op, aie2.LayerOp)}
    for layer in split:
        ruled = next(t for t in paper.layers if t.name == layer.name)
        cin = layer_shape(ops[layer.name].inner).cin_per_group
        chunks = ceil(cin / layer.split["subvolume"][3])
        assert chunks > 1
        mine = {e.name: e.args["repeat"] for e in layer.events if e.track == "core 0,0"
                and e.name.startswith("COMP")}
        theirs = {e.name: e.args["repeat"] for e in ruled.events if e.track == "core 0,0"
                  and e.name.startswith("COMP")}
        assert theirs == {name: max(1, repeat // chunks) for name, repeat in mine.items()}
        loads = [e for e in ruled.events if e.name == "LOADWDM" and e.track == "core 0,0"]
        passes = layer.split["ddr_passes"][0] * layer.split["ddr_passes"][1]
        assert ruled.busy["LOADWDM"] == pytest.approx(
            loads[0].args["bytes"] * passes / PAPER.link_bandwidth(), rel=1e-12)
