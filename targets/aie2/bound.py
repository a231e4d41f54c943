"""A lower bound on a layer's time: no mapping under the time model's rules is faster.

Under the rules of the time model (docs/design.md), a layer's time is its DDR time, plus
its LOADWDM time (halting), plus its streamed groups, each at least as long as the
largest of its loads, computes and stores. Whatever the split, subvolume and loop order:

- **DDR**: the layer's weights (the kept blocks, one byte each) come from DDR, spread at
  best over every memtile, each loading at the load bandwidth: ``W / (M x B_load)``.
  Activations may already sit in the memtiles and stay there: no compulsory DDR time.
- **weights to cores**: every kept weight reaches at least one core, and the busiest core
  receives at least the average: ``W / (R x C x B_link)``; LOADWDM halts, so this adds.
  Every weight also leaves a weight memtile on one of its MM2S channels at most:
  ``W / (M_w x K_mm2s x B_link)`` when that is fewer streams than cores.
- **compute**: the busiest core computes at least the average of the MACs (kept blocks
  only; compares and adds for pools and element-wise layers): ``MACs / (R x C x rate)``.
- **activations to cores**: every input element a window reads reaches at least one core
  (an element a stride skips need not) and leaves an activation memtile on one of its
  MM2S channels: ``I / (min(R x C, M_a x K_mm2s) x B_link)``.
- **results from cores**: every output element leaves exactly one core and enters an
  activation memtile on one of its S2MM channels: ``O / (min(R x C, M_a x K_s2mm) x
  B_link)`` (on 8 core rows a memtile takes the results of its 8 cores on 6 channels).

- **the busiest core**: a core that computes a block of at least 1/N of the output needs
  the weights of its channels and the input its positions read; whatever the split,
  one core pays for both (:func:`busiest_core_s`).
- **the cores on average**: weighted by their positions, the cores' weights add up to
  the layer's kept weights at every position, and their input to their positions':
  the busiest core pays at least that average (:func:`average_core_s`).

The bound is ``DDR + max(weights to cores + max(compute, activations, results), the
busiest core, the cores on average)``; what binds is the largest term (the last two
report as "weights and input to the busiest core"). Every estimate is at least its bound
(tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array


@dataclass(frozen=True)
class LayerBound:
    """A layer's lower bound in seconds, what binds it, and each term."""

    seconds: float
    bound_by: str
    terms: dict[str, float]


@lru_cache(maxsize=8192)
def covered(size: int, out: int, kernel: int, stride: int, dilation: int, pad: int,
            first: int = 0) -> int:
    """How many of ``size`` input positions the windows of outputs [first, out) read
    (padding and the positions a stride or dilation skips excluded)."""
    if stride == 1 and dilation == 1:  # one run of positions
        return max(0, min(out - 1 - pad + kernel, size) - max(first - pad, 0))
    read = {o * stride - pad + i * dilation for o in range(first, out) for i in range(kernel)}
    return sum(1 for position in read if 0 <= position < size)


def needed_input_bytes(shape: LayerShape) -> int:
    """Input bytes the layer reads at least once (int8): a transpose or slice one per
    output element."""
    if shape.gather is not None:
        return shape.output_bytes
    if shape.kind == "conv" or shape.is_pool:
        rows = covered(shape.in_hw[0], shape.out_hw[0], shape.kernel[0], shape.stride[0],
                       shape.dilation[0], shape.pad[0])
        cols = covered(shape.in_hw[1], shape.out_hw[1], shape.kernel[1], shape.stride[1],
                       shape.dilation[1], shape.pad[1])
        residual = shape.output_bytes if shape.residual else 0  # a fused addition's
        return rows * cols * shape.cin * shape.inputs + shape.other_input_bytes + residual
    return shape.input_bytes


def kept_weight_bytes(shape: LayerShape) -> int:
    """Bytes of the kept weights, without indices or bias (int8): whole kept blocks, or
    the dense weights when fewer (blocks overhanging a small tensor; the mapper may run
    such a layer with its zeros)."""
    if not shape.weighted:
        return 0
    kh, kw = shape.kernel
    dense = shape.cout * kh * kw * shape.cin_per_group
    if shape.block_row_nnz is None:
        return dense
    bo, bi = shape.block
    return min(dense, sum(shape.block_row_nnz) * bo * bi * kh * kw)


def _interior(size: int, out: int, kernel: int, stride: int, dilation: int, pad: int,
              owned: int) -> int:
    """Outputs whose owned input lies inside the input along one axis, for the best
    placement of the owned span in the window: ``owned`` consecutive positions (at most
    the stride, so no two outputs share them) from an offset that keeps the most
    outputs' spans off the padding."""
    offsets = range(kernel - owned + 1) if dilation == 1 \
        else range(0, dilation * (kernel - 1) + 1, dilation)
    return max(sum(1 for o in range(out) if o * stride - pad + offset >= 0
                   and o * stride - pad + offset + owned <= size) for offset in offsets)


def owned_input(shape: LayerShape) -> tuple[int, int]:
    """(input bytes each output position owns alone, positions whose owned input runs
    into the padding): a position owns ``min(k, s)`` x ``min(k, s)`` elements of its
    window (one where dilated), every input channel; no other position of the layer
    reads them."""
    owned = [min(k, s) if d == 1 else 1 for k, s, d in
             zip(shape.kernel, shape.stride, shape.dilation, strict=True)]
    interior = 1
    for axis in (0, 1):
        interior *= _interior(shape.in_hw[axis], shape.out_hw[axis], shape.kernel[axis],
                              shape.stride[axis], shape.dilation[axis], shape.pad[axis],
                              owned[axis])
    return owned[0] * owned[1] * shape.cin, shape.out_hw[0] * shape.out_hw[1] - interior


def average_core_s(shape: LayerShape, array: AIE2Array) -> float:
    """The averaging term: a lower bound on the busiest core's weights plus input that
    charges the layer's kept weights as they are (not the sparsest channel's) for layers
    whose cores each need every input channel; 0 for the others.

    Core ``i`` computes ``p_i`` positions times a set ``S_i`` of channels, and every
    channel is computed at all ``P`` positions, so ``sum_i p_i w(S_i) >= P W`` (``W``
    the kept weight bytes). The busiest core takes at least the average of the cores'
    times weighted by ``p_i / S`` (``S = sum_i p_i``, between ``P`` and ``N P``): its
    weights at least ``P W / S`` and, as ``sum_i p_i^2 >= S^2 / N``, its input at least
    ``(S / N - E)`` positions' owned input (``E`` the padded positions). The bound is
    the least such time over ``S`` (decreasing to the kink ``S = N E``, then convex)."""
    if not shape.weighted or shape.groups != 1:
        return 0.0
    link, cores = array.link_bandwidth(), array.cores
    positions = shape.out_hw[0] * shape.out_hw[1]
    weights = kept_weight_bytes(shape)
    per_position, edge = owned_input(shape)

    def time(spread: float) -> float:
        return (positions * weights / spread
                + max(spread / cores - edge, 0.0) * per_position) / link

    lo, hi = float(positions), float(cores * positions)
    points = [lo, hi, float(cores * edge)]
    if per_position:
        points.append((positions * weights * cores / per_position) ** 0.5)
    return min(time(min(max(s, lo), hi)) for s in points)


def busiest_core_s(shape: LayerShape, array: AIE2Array) -> float:
    """The replication term: a lower bound on the busiest core's weights plus streams,
    for layers whose cores each need every input channel (convolutions without groups,
    fully connected layers); 0 for the others.

    Every bsir core computes a block of the output, a set of positions times a set of
    channels, and one core at least computes ``p x c >= P x C / N`` of the ``P``
    positions and ``C`` channels. It needs the weights of its ``c`` channels (at least
    ``c x w_min`` bytes, the sparsest channel's), and for its ``p`` positions at least
    the input each position owns alone (``min(k, s)`` rows by columns from its window's
    corner, every channel), except at most the ``E`` positions whose owned input runs
    into the padding, and with a fused addition the residual of its outputs. Its time is
    at least its weights (LOADWDM halts) plus the largest of its input, its outputs and
    its MACs. The bound is that time's minimum over ``p``
    (a convex function: its minimum is at an end, a kink or a stationary point)."""
    if not shape.weighted or shape.groups != 1:
        return 0.0
    link, rate = array.link_bandwidth(), array.macs_per_second
    kh, kw = shape.kernel
    positions, channels = shape.out_hw[0] * shape.out_hw[1], shape.cout
    # the sparsest channel: its stored weight bytes and its MACs per output
    w_min = taps = kh * kw * shape.cin_per_group
    if shape.block_row_nnz is not None:
        bi = shape.block[1]
        kept_columns = min(shape.block_row_nnz) * bi
        w_min = kh * kw * min(kept_columns, shape.cin_per_group)  # or run with zeros
        taps = kh * kw * max(0, kept_columns - (shape.block_cols * bi - shape.cin_per_group))
    per_position, edge = owned_input(shape)
    share = positions * channels / array.cores                # p x c of the busiest core
    floor = max(share / link, share * taps / rate)            # its outputs, its MACs

    residual = share if shape.residual else 0.0  # a fused addition: its outputs' residual

    def time(p: float) -> float:
        weights = share / p * w_min / link
        return weights + max((max(p - edge, 0.0) * per_position + residual) / link, floor)

    lo, hi = max(1.0, positions / array.cores), float(positions)
    points = [lo, hi]
    if per_position:
        points.append(edge + (floor * link - residual) / per_position)  # the kink
        points.append((share * w_min / per_position) ** 0.5)  # the stationary point
    return min(time(min(max(p, lo), hi)) for p in points)


def layer_bound(shape: LayerShape, array: AIE2Array) -> LayerBound:
    """The lower bound of one layer on ``array`` (see the module docstring)."""
    cores, link = array.cores, array.link_bandwidth()
    weights = kept_weight_bytes(shape)
    ops = round(shape.dense_macs * shape.density())
    act_tiles, weight_tiles = len(array.activation_memtiles), len(array.weight_memtiles)
    terms = {
        "DDR": weights / (array.memtiles * array.ddr_load_bandwidth()),
        "weights to cores": weights / (min(cores, weight_tiles * array.memtile_mm2s) * link),
        "compute": ops / (cores * array.macs_per_second),
        "activations to cores": needed_input_bytes(shape)
        / (min(cores, act_tiles * array.memtile_mm2s) * link),
        "results from cores": shape.output_bytes
        / (min(cores, act_tiles * array.memtile_s2mm) * link),
    }
    streamed = max(terms["compute"], terms["activations to cores"],
                   terms["results from cores"])
    on_array = terms["weights to cores"] + streamed
    busiest, average = busiest_core_s(shape, array), average_core_s(shape, array)
    replication = max(busiest, average)
    seconds = terms["DDR"] + max(on_array, replication)
    if replication > on_array:
        terms["weights and input to the busiest core"] = replication
    bound_by = max(terms, key=terms.__getitem__)
    return LayerBound(seconds, bound_by, terms)
