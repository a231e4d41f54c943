"""Random networks x grids x block shapes x densities x memtile modes x schedules (weights
loaded ahead or not): the compiled program, simulated, equals the reference executor
bit for bit (docs/design.md)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tg_graphs import draw_conv, draw_pool, weight_specs

from bsir.dialects import tg
from bsir.driver.compile import CompileOptions, compile_module
from bsir.driver.verify import verify_compiled
from bsir.executor import random_inputs
from bsir.models.builder import GraphBuilder
from bsir.weights import materialize


@st.composite
def networks(draw):
    """Convolutions (any stride, padding, dilation, groups, bias), pools, residual adds,
    concatenations of branches and a linear head: the layers of the paper's models."""
    h, w = draw(st.integers(3, 24)), draw(st.integers(3, 24))
    c = draw(st.integers(1, 24))
    b = GraphBuilder("net", (1, h, w, c), "net.npz")
    x = b.input
    for index in range(draw(st.integers(1, 6))):
        cc = tg.tensor_shape(x)[3]
        kind = draw(st.sampled_from(["conv", "conv", "conv", "pool", "avgpool", "residual",
                                     "branches"]))
        if kind == "conv":
            conv = draw_conv(draw, b, x, f"conv{index}", (1, 2, 4), 24)
            if conv is None:
                continue
            x = b.relu(conv) if draw(st.booleans()) else conv
        elif kind in ("pool", "avgpool"):
            pooled = draw_pool(draw, b, x, kind)
            x = pooled if pooled is not None else x
        elif kind == "residual":
            y = b.conv(x, cc, 3, f"res{index}", pad=1)
            x = b.relu(b.add(b.relu(y), x))
        else:
            widths = draw(st.lists(st.integers(1, 16), min_size=2, max_size=3))
            x = b.concat([b.relu(b.conv(x, width, 1, f"branch{index}_{j}"))
                          for j, width in enumerate(widths)])
    if x is b.input:  # every drawn layer was skipped: at least one layer to check
        x = b.conv(x, draw(st.integers(1, 24)), 1, "conv_only")
    if draw(st.booleans()):
        x = b.linear(b.flatten(b.global_avgpool(x)), draw(st.integers(1, 12)), "fc")
    return b.finish(x).module


@settings(max_examples=max(10, settings.default.max_examples // 3))
@given(networks(), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from(["shared", "separate"]), st.sampled_from([0.0, 0.25, 0.5, 0.75]),
       st.sampled_from([(8, 8), (4, 4), (16, 4), (4, 16), (1, 1), (2, 8)]),
       st.integers(0, 2**16), st.sampled_from(["none", "weights"]))
def test_simulated_programs_are_bit_exact(module, rows, cols, memtiles, sparsity, block,
                                          seed, overlap):
    if memtiles == "separate" and cols < 2:
        memtiles = "shared"
    arrays = materialize(weight_specs(module), seed)
    x = random_inputs(module, seed, 1)[0]
    result = compile_module(module, arrays, f"{rows}x{cols}", memtiles,
                            CompileOptions(sparsity, block, calibration=tuple(x),
                                           overlap=overlap))
    assert result.failed is None
    other = [np.random.default_rng(seed + 1).standard_normal(x[0].shape).astype(np.float32)]
    for inputs in (x, other):  # the calibration input, and another
        report = verify_compiled(result.module, result.weights, inputs)
        assert report.layers > 0
