"""Weights loaded ahead (``--overlap weights``): memory coloring finds them free space,
the lock pass proves them safe, the time model hides them under earlier layers, the
simulator runs them bit for bit, and a prefetch without its lock or into a tensor still
in use is caught."""

import json
from itertools import pairwise

import pytest
from xdsl.utils.exceptions import PassFailedException

from bsir.dialects import aie2, tiling
from bsir.dialects.record_attr import i64_attr
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module, compile_source
from bsir.driver.verify import verify_compiled
from bsir.executor import random_inputs
from bsir.models import build_model
from bsir.passes.aie2_form_lock_chains import check_prefetches
from bsir.targets.aie2.simulator import SimulationError
from bsir.targets.aie2.trace import trace_events
from bsir.tools import bsir_cli
from bsir.weights import materialize


def compiled(model="tiny_resnet", grid="2x2", overlap="weights", memtiles="shared",
             sparsity=0.0):
    built = build_model(model)
    x = random_inputs(built.module, 1, 1)[0]
    result = compile_module(built.module, materialize(built.specs, 0), grid, memtiles,
                            CompileOptions(sparsity, calibration=tuple(x), overlap=overlap))
    assert result.failed is None
    return result, x


def layers_of(result):
    return [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]


def prefetched(result):
    """(position, layer, its weight load) of the first layer whose weights load ahead."""
    for position, layer in enumerate(layers_of(result)):
        for op in layer.instructions:
            if isinstance(op, aie2.LoadWOp) and op.field("ahead"):
                return position, layer, op
    raise AssertionError("no weight load runs ahead")


def loadwdms(layer):
    return [op for op in layer.instructions if isinstance(op, aie2.LoadWDMOp)]


@pytest.mark.parametrize("model,grid,memtiles,sparsity", [
    ("tiny_resnet", "2x2", "shared", 0.0),
    ("tiny_resnet", "4x4", "separate", 0.5),
    ("tiny_inception", "3x3", "shared", 0.5),
    ("tiny_cnn", "8x8", "shared", 0.0),
])
def test_programs_with_weights_ahead_match_the_reference_bit_for_bit(model, grid, memtiles,
                                                                    sparsity):
    result, x = compiled(model, grid, "weights", memtiles, sparsity)
    _, layer, load = prefetched(result)
    assert load.field("signal") >= 0
    assert all(op.field("wait") == load.field("signal") for op in loadwdms(layer))
    assert verify_compiled(result.module, result.weights, x).layers == len(layers_of(result))


def test_overlap_never_slows_a_layer_and_hides_what_it_saves():
    alone, _ = compiled(overlap="none")
    ahead, _ = compiled(overlap="weights")
    assert ahead.total_s < alone.total_s
    assert ahead.timing.hidden_ddr_s == pytest.approx(alone.total_s - ahead.total_s)
    start = 0.0
    for a, b in zip(alone.layers, ahead.layers, strict=True):
        assert b.start_s == pytest.approx(start)  # each layer starts when the last ends
        assert (b.memtile_core_s, b.compute_s) == (a.memtile_core_s, a.compute_s)
        assert b.ddr_s == pytest.approx(a.ddr_s - b.hidden_ddr_s)
        assert b.total_s >= b.window_bound_s * (1 - 1e-12)
        start += b.total_s
    assert ahead.total_s == pytest.approx(start)
    assert ahead.timing.bound_s <= ahead.total_s
    assert alone.timing.hidden_ddr_s == 0 and not alone.timing.overlapped


def test_the_paper_estimator_overlaps_nothing():
    ahead, _ = compiled(overlap="weights")
    paper = ahead.timed_by("paper")
    assert paper.timing.hidden_ddr_s == 0 and not paper.timing.overlapped


def test_the_trace_draws_a_prefetch_under_an_earlier_layer():
    result, _ = compiled()
    position, layer, _ = prefetched(result)
    events = trace_events(result.timing)
    bars = [e for e in events if e.get("name") == f"LOADW {layer.layer_name.data} (ahead)"]
    assert bars
    start = result.layers[position].start_s * 1e6
    assert all(bar["ts"] + bar["dur"] <= start + 1e-6 for bar in bars)
    assert all(bar["cat"] != layer.layer_name.data for bar in bars)


def test_memory_coloring_keeps_the_prefetched_range_for_the_layers_it_runs_under():
    result, _ = compiled()
    layers = layers_of(result)
    position, layer, load = prefetched(result)
    weights = tuple(layer.placement.get("weights"))
    assert weights == (load.field("memtile"), layers[position].placement.get("weights")[1])
    for other in layers[position - load.field("ahead"):position]:
        live = tiling.PlacementAttr.pairs(other.placement.get("live"))
        assert weights in live


def drop_waits(layer, load):
    for op in loadwdms(layer):
        del op.properties["wait"]


def drop_signal(layer, load):
    del load.properties["signal"]


@pytest.mark.parametrize("break_lock,refused,caught", [
    (drop_waits, "race: its LOADWDM does not wait", "race"),  # cores may read in flight
    (drop_signal, "signals no lock", "deadlock"),              # the wait never ends
])
def test_a_prefetch_without_its_lock_is_refused_and_caught(break_lock, refused, caught):
    result, x = compiled()
    layers = layers_of(result)
    _, layer, load = prefetched(result)
    break_lock(layer, load)
    with pytest.raises(PassFailedException, match=refused):
        check_prefetches(layers, True, 8)
    with pytest.raises(SimulationError, match=caught):
        verify_compiled(result.module, result.weights, x)


def test_a_prefetch_into_a_tensor_still_in_use_is_caught():
    result, x = compiled()
    layers = layers_of(result)
    position, layer, load = prefetched(result)
    under = layers[position - load.field("ahead")]
    address = under.placement.get("output")[0]  # what the layer it runs under writes
    load.properties["memtile"] = i64_attr(address)
    for op in loadwdms(layer):
        op.properties["memtile"] = i64_attr(address)
    with pytest.raises(PassFailedException, match="race: its weights load into"):
        check_prefetches(layers, True, 8)
    with pytest.raises(SimulationError, match=r"clobbers|reads bytes of"):
        verify_compiled(result.module, result.weights, x)


def test_two_prefetches_in_flight_on_one_lock_are_refused():
    result, _ = compiled()
    loads = [(p, op) for p, layer in enumerate(layers_of(result)) for op in layer.instructions
             if isinstance(op, aie2.LoadWOp) and op.field("ahead")]
    overlapping = [(a, b) for (pa, a), (pb, b) in pairwise(loads)
                   if pb - b.field("ahead") <= pa]
    assert overlapping, "no two prefetches in flight at once"
    first, second = overlapping[0]
    second.properties["signal"] = i64_attr(first.field("signal"))
    with pytest.raises(PassFailedException, match="both hold"):
        check_prefetches(layers_of(result), True, 8)


def test_compile_overlap_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert bsir_cli.main(["compile", "tiny_resnet", "--grid", "2x2", "--overlap", "weights",
                          "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hidden DDR us" in printed and "weights loaded ahead:" in printed
    data = json.loads(out.read_text())
    assert data["overlap"] == "weights" and data["hidden_ddr_s"] > 0
    assert sum(layer["hidden_ddr_s"] for layer in data["layers"]) == pytest.approx(
        data["hidden_ddr_s"])
    assert bsir_cli.main(["compile", "tiny_resnet", "--overlap", "activations"]) == 2


def test_no_table2_cell_is_slower_with_overlap():
    for model, grid in (("vgg16", "2x2"), ("resnet50", "8x8")):
        alone = compile_source(model, grid, options=CompileOptions(quantize=False))
        ahead = compile_source(model, grid, options=CompileOptions(quantize=False,
                                                                   overlap="weights"))
        assert ahead.total_s <= alone.total_s


@pytest.mark.parametrize("model,kib", [("tiny_cnn", 4), ("tiny_resnet", 4), ("tiny_resnet", 8)])
def test_weights_partly_ahead_are_bit_exact(tmp_path, model, kib):
    """Memtiles too small for a layer's weights beside the layer before it: part of them
    loads ahead (``early`` bytes from ``early_at``), the rest with the layer."""
    hardware = tmp_path / "hw.toml"
    hardware.write_text(f"rows = 2\ncols = 2\n[memtile]\nbytes = {kib * 1024}\n")
    result, x = compiled(model, str(hardware))
    parts = [op for layer in layers_of(result) for op in layer.instructions
             if isinstance(op, aie2.LoadWOp) and op.field("early")]
    assert parts and all(0 < op.field("early") < op.nbytes for op in parts)
    check_prefetches(layers_of(result), True, 8)
    assert verify_compiled(result.module, result.weights, x).layers == len(layers_of(result))
