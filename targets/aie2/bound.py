"""A lower bound on a layer's time: no mapping under the time model's rules is faster.

Under the rules of the time model (docs/design.md), a layer's time is its DDR time, plus
its LOADWDM time (halting), plus its streamed groups, each at least as long as the
largest of its loads, computes and stores. Whatever the split, subvolume and loop order:

- **DDR**: the layer's weights (the kept blocks, one byte each) come from DDR, spread at
  best over every memtile, each loading at the load bandwidth: ``W / (M x B_load)``.
  Activations may already sit in the memtiles and stay there: no compulsory DDR time.
- **weights to cores**: every kept weight reaches at least one core, and the busiest core
  receives at least the average: ``W / (R x C x B_link)``; LOADWDM halts, so this adds.
- **compute**: the busiest core computes at least the average of the MACs (kept blocks
  only; compares and adds for pools and element-wise layers): ``MACs / (R x C x rate)``.
- **activations to cores**: every input element a window reads reaches at least one core
  (an element a stride skips need not): ``I / (R x C x B_link)``.
- **results from cores**: every output element leaves exactly one core:
  ``O / (R x C x B_link)``.

The bound is ``DDR + weights to cores + max(compute, activations, results)``; what binds
is the largest of these terms. Every estimate is at least its bound (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array


@dataclass(frozen=True)
class LayerBound:
    """A layer's lower bound in seconds, what binds it, and each term."""

    seconds: float
    bound_by: str
    terms: dict[str, float]


def covered(size: int, out: int, kernel: int, stride: int, dilation: int, pad: int) -> int:
    """How many of ``size`` input positions some output window reads."""
    read = {o * stride - pad + i * dilation for o in range(out) for i in range(kernel)}
    return sum(1 for position in read if 0 <= position < size)


def needed_input_bytes(shape: LayerShape) -> int:
    """Input bytes the layer reads at least once (int8)."""
    if shape.kind == "conv" or shape.is_pool:
        rows = covered(shape.in_hw[0], shape.out_hw[0], shape.kernel[0], shape.stride[0],
                       shape.dilation[0], shape.pad[0])
        cols = covered(shape.in_hw[1], shape.out_hw[1], shape.kernel[1], shape.stride[1],
                       shape.dilation[1], shape.pad[1])
        return rows * cols * shape.cin * shape.inputs + shape.other_input_bytes
    return shape.input_bytes


def kept_weight_bytes(shape: LayerShape) -> int:
    """Bytes of the kept weights, without indices or bias (int8)."""
    if not shape.weighted:
        return 0
    kh, kw = shape.kernel
    if shape.block_row_nnz is None:
        return shape.cout * kh * kw * shape.cin_per_group
    bo, bi = shape.block
    return sum(shape.block_row_nnz) * bo * bi * kh * kw


def layer_bound(shape: LayerShape, array: AIE2Array) -> LayerBound:
    """The lower bound of one layer on ``array`` (see the module docstring)."""
    cores, link = array.cores, array.link_bandwidth()
    weights = kept_weight_bytes(shape)
    ops = round(shape.dense_macs * shape.density())
    terms = {
        "DDR": weights / (array.memtiles * array.ddr_load_bandwidth()),
        "weights to cores": weights / (cores * link),
        "compute": ops / (cores * array.macs_per_second),
        "activations to cores": needed_input_bytes(shape) / (cores * link),
        "results from cores": shape.output_bytes / (cores * link),
    }
    streamed = max(terms["compute"], terms["activations to cores"],
                   terms["results from cores"])
    seconds = terms["DDR"] + terms["weights to cores"] + streamed
    return LayerBound(seconds, max(terms, key=terms.__getitem__), terms)
