"""The whole compile pipeline on random networks: it never fails to map, every
instruction verifies, the lock chains are live, and the estimate is consistent: at least
its lower bound, and on the array exactly the cost the mapper's search gave it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tg_graphs import random_graphs, weight_specs

from bsir.dialects import aie2, tg
from bsir.dialects.tg import only_graph
from bsir.driver.compile import CompileOptions, compile_module
from bsir.ir import verify_module
from bsir.passes.aie2_form_lock_chains import check_chains
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.layout import bytes_live_across
from bsir.targets.aie2.mapping import map_layer_among
from bsir.weights import materialize


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(random_graphs(), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from(["shared", "separate"]), st.sampled_from([0.0, 0.3, 0.5, 0.8]))
def test_weights_ahead_never_slow_a_network(module, rows, cols, memtiles, sparsity):
    """Loading weights under earlier layers only shortens DDR phases: every layer keeps
    its on-array time, starts when the one before it ends, and no network is slower."""
    if memtiles == "separate" and cols < 2:
        memtiles = "shared"
    for op in only_graph(module).block.ops:
        if isinstance(op, tg.WEIGHTED_OPS):
            op.properties.pop("sparsity", None)
            op.properties.pop("quant", None)
    arrays = materialize(weight_specs(module), 0)
    results = {overlap: compile_module(module.clone(), arrays, f"{rows}x{cols}", memtiles,
                                       CompileOptions(sparsity, quantize=False,
                                                      overlap=overlap))
               for overlap in ("none", "weights")}
    alone, ahead = results["none"], results["weights"]
    assert alone.failed is None and ahead.failed is None
    assert ahead.total_s <= alone.total_s * (1 + 1e-12)
    start = 0.0
    for a, b in zip(alone.layers, ahead.layers, strict=True):
        assert (b.memtile_core_s, b.compute_s) == (a.memtile_core_s, a.compute_s), b.name
        assert b.ddr_s <= a.ddr_s * (1 + 1e-12) and b.hidden_ddr_s >= 0
        assert b.start_s == pytest.approx(start)
        assert b.total_s >= b.window_bound_s * (1 - 1e-12)
        start += b.total_s
    assert ahead.total_s >= ahead.timing.bound_s * (1 - 1e-12)


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(random_graphs(), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from(["shared", "separate"]), st.sampled_from([0.0, 0.3, 0.5, 0.8]))
def test_random_networks_compile(module, rows, cols, memtiles, sparsity):
    if memtiles == "separate" and cols < 2:
        memtiles = "shared"
    for op in only_graph(module).block.ops:
        if isinstance(op, tg.WEIGHTED_OPS):  # compile chooses the masks itself
            op.properties.pop("sparsity", None)
            op.properties.pop("quant", None)
    result = compile_module(module, materialize(weight_specs(module), 0), f"{rows}x{cols}",
                            memtiles,
                            CompileOptions(sparsity, quantize=False))
    assert result.failed is None
    verify_module(result.module)
    layers = [op for op in only_graph(result.module).block.ops if isinstance(op, aie2.LayerOp)]
    for layer in layers:
        check_chains(layer)
    timing = result.timing
    others = bytes_live_across(only_graph(result.module).block,
                               len(result.array.activation_memtiles))
    for layer, timed in zip(layers, timing.layers, strict=True):
        mapping = map_layer_among(layer_shape(layer.inner), result.array, others[layer])
        assert timed.memtile_core_s + timed.compute_s == mapping.on_array_s, timed.name
    assert timing.total_s == pytest.approx(sum(layer.total_s for layer in timing.layers))
    for layer in timing.layers:
        assert layer.total_s == pytest.approx(
            layer.ddr_s + layer.memtile_core_s + layer.compute_s)
        assert layer.total_s >= layer.macs_computed / (
            result.array.cores * result.array.macs_per_second) * (1 - 1e-9)
        # (a layer that meets its bound may differ from it in the last bit)
        assert layer.total_s >= layer.bound_s * (1 - 1e-12), (layer.name, layer.bound_by)
        assert layer.bound_s > 0
    assert timing.total_s >= timing.bound_s * (1 - 1e-12)


@settings(max_examples=max(8, settings.default.max_examples // 8), deadline=None)
@given(random_graphs(), st.integers(1, 4), st.integers(1, 4), st.sampled_from([0.0, 0.5]))
def test_random_int8_networks_run_bit_for_bit(module, rows, cols, sparsity):
    """The simulated INT8 program of a random network (joins of channels, rows and
    columns, in place or copied in, constants joined as class tokens) is bit for bit
    the reference executor's, layer by layer."""
    from bsir.executor import random_inputs

    for op in only_graph(module).block.ops:
        if isinstance(op, tg.WEIGHTED_OPS):
            op.properties.pop("sparsity", None)
            op.properties.pop("quant", None)
    x = random_inputs(module, 0, 1)[0]
    result = compile_module(module, materialize(weight_specs(module), 0), f"{rows}x{cols}",
                            options=CompileOptions(sparsity, calibration=tuple(x)))
    assert result.failed is None
    assert result.verify(x).layers == len(result.layers)
