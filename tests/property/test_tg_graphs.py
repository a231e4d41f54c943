"""Random valid tg graphs verify and round-trip through the text form (docs/design.md)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bsir.dialects import tg
from bsir.dialects import tg_shapes as shapes
from bsir.ir import parse_module, print_module, verify_module
from bsir.models.builder import GraphBuilder
from bsir.weights import WeightSpec


def draw_conv(draw, b, x, name, group_choices=(1, 2, 3), per_group=6):
    """A random convolution of ``x`` (kernel, stride, padding, dilation, groups, bias),
    or None when the drawn geometry does not fit it."""
    n, hh, ww, cc = tg.tensor_shape(x)
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    groups = draw(st.sampled_from([g for g in group_choices if cc % g == 0]))
    cout = groups * draw(st.integers(1, per_group))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    try:
        shapes.conv2d_output_shape((n, hh, ww, cc), (cout, kh, kw, cc // groups),
                                   stride, pad, dilation, groups)
    except shapes.ShapeError:
        return None
    return b.conv(x, cout, (kh, kw), name, stride=stride, pad=pad, dilation=dilation,
                  groups=groups, bias=draw(st.booleans()))


def draw_pool(draw, b, x, kind):
    """A random max ("pool") or average ("avgpool") pooling of ``x``, or None."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)),
           draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    ceil = draw(st.booleans())
    try:
        shapes.pool2d_output_shape(tg.tensor_shape(x), k, s, pad, ceil)
    except shapes.ShapeError:
        return None
    if kind == "pool":
        return b.maxpool(x, k, s, pad, ceil)
    return b.avgpool(x, k, s, pad, draw(st.booleans()))


@st.composite
def random_graphs(draw):
    """A chain of random layers; adds and concats reuse earlier same-shape values."""
    h = draw(st.integers(4, 16))
    w = draw(st.integers(4, 16))
    c = draw(st.integers(1, 12))
    b = GraphBuilder("random", (1, h, w, c), "random.npz")
    x = b.input
    values = [x]
    for index in range(draw(st.integers(1, 8))):
        n, hh, ww, cc = tg.tensor_shape(x)
        kind = draw(st.sampled_from(
            ["conv", "conv", "pool", "avgpool", "relu", "clip", "bn", "add", "concat",
             "join"]))
        if kind == "conv":
            conv_out = draw_conv(draw, b, x, f"conv{index}")
            if conv_out is None:
                continue
            x = conv_out
            cout, groups = tg.tensor_shape(x)[3], x.owner.group_count
            conv = x.owner
            if draw(st.booleans()):
                block = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
                grid = shapes.blocks_grid(cout, cc // groups, block)
                mask = np.array(draw(st.lists(st.booleans(), min_size=grid[0] * grid[1],
                                              max_size=grid[0] * grid[1])), bool)
                conv.properties["sparsity"] = tg.SparsityAttr.from_mask(block, mask.reshape(grid))
            if draw(st.booleans()):
                produced = tg.activation_fix(conv.input)  # fixes agree along every edge
                in_fix = produced if produced is not None else draw(st.integers(-8, 15))
                conv.properties["quant"] = tg.QuantAttr.get(
                    [in_fix], draw(st.integers(-8, 15)),
                    draw(st.integers(-8, 15)),
                    draw(st.integers(-8, 30)) if conv.bias is not None else None)
        elif kind in ("pool", "avgpool"):
            pooled = draw_pool(draw, b, x, kind)
            if pooled is None:
                continue
            x = pooled
        elif kind == "relu":
            x = b.relu(x)
        elif kind == "clip":
            lo = draw(st.floats(-4, 4, width=32))
            x = b.clip(x, lo, lo + draw(st.floats(0, 8, width=32)))
        elif kind == "bn":
            x = b.batch_norm(x, f"bn{index}", draw(st.sampled_from([1e-5, 1e-3])))
        elif kind == "add":
            same = [v for v in values if tg.tensor_shape(v) == tg.tensor_shape(x)]
            x = b.add(x, draw(st.sampled_from(same)))
        elif kind == "join":  # rows or columns: written in place, or copied in
            axis = draw(st.sampled_from([1, 2]))
            shape = tg.tensor_shape(x)
            same = [v for v in values if all(
                a == s for i, (a, s) in enumerate(zip(tg.tensor_shape(v), shape, strict=True))
                if i != axis)]
            parts = [x, *draw(st.lists(st.sampled_from(same), max_size=2))]
            if draw(st.booleans()):  # a constant joined, as a class token
                size = list(shape)
                size[axis] = draw(st.integers(1, 3))
                parts.insert(draw(st.integers(0, len(parts))),
                             b.weight(f"token{index}", tuple(size), "embedding"))
            if sum(tg.tensor_shape(v)[axis] for v in parts) > 24:
                continue
            x = b.concat(parts, axis=axis)
        else:
            same = [v for v in values if tg.tensor_shape(v)[:3] == (n, hh, ww)]
            picks = draw(st.lists(st.sampled_from(same), min_size=1, max_size=3))
            x = b.concat([x, *picks])
        values.append(x)
    if draw(st.booleans()):
        x = b.linear(b.flatten(b.global_avgpool(x)), draw(st.integers(1, 10)), "fc")
    return b.finish(x).module


def weight_specs(module):
    """Specs to materialize every weight of a random graph (variances kept positive)."""
    specs = []
    for op in module.walk():
        if isinstance(op, tg.WeightOp):
            key = op.key.data
            init = "bn_var" if key.endswith("running_var") else "he"
            specs.append(WeightSpec(key, tg.tensor_shape(op.result), init))
    return specs


@given(random_graphs())
def test_random_graphs_verify_and_round_trip(module):
    verify_module(module)
    text = print_module(module)
    again = parse_module(text, "random.mlir")
    verify_module(again)
    assert module.is_structurally_equivalent(again)
    assert print_module(again) == text
