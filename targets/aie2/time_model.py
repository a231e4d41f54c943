"""The AIE2 time model (paper section 4.5, docs/design.md), per instruction,
layer and network, with every estimate split into DDR, memtile<->core and compute time.

Rules:

- DDR: LOAD and LOADW run in parallel, each on one 4 GB/s channel per memtile (shared
  mode) or at 8 GB/s (separate mode); WRITE uses both channels (8 GB/s). Memtiles work
  in parallel, so a transfer's time is its bytes per memtile over that bandwidth. DDR
  time adds to the rest of the layer (no overlap with core work).
- memtile<->core: 4 GB/s per link, every link in parallel (LOADFM, WRITEFM per core);
  a transfer whose DMA channel ``share`` cores take turns on takes that many times as
  long (targets/aie2/channels.py). LOADWDM (weights) is synchronous and halting: it
  adds up.
- COMP: the busiest core's MACs (zero blocks skipped) / (256 per cycle x 1 GHz).
- A group with ``iter`` 1 runs load, compute and store one after another; with
  ``iter`` n > 1 they overlap: n x max(load, compute, store). A group runs ``repeat``
  times. Its time counts as compute when compute is the longest stage, else as
  memtile<->core time. These on-array rules live in targets/aie2/cost.py, which the
  mapper's search calls too.
- A layer's time is DDR + memtile<->core + compute; a network's the sum of its layers
  in schedule order. Fabric reprogramming and synchronisation are not counted.
- Beyond the paper (``--overlap weights``): a weight load issued ``ahead`` (its first
  COUT band's, when it loads several) runs on its memtiles' weight channel while the
  cores of the layers before its own compute (their DDR transfers keep the channels to
  themselves), prefetches one after another in layer order; what is left when its layer
  starts loads then, beside the layer's other loads. The network is then a schedule:
  each layer starts when the one before ends, and the network's time is when the last
  one ends. Under the paper's estimator (``cost_model="paper"``) nothing overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from xdsl.dialects.builtin import ModuleOp

from bsir.diagnostics import BsirError
from bsir.dialects import aie2, tg, tiling
from bsir.dialects.tg import only_graph
from bsir.stats import op_macs
from bsir.targets.aie2.bound import layer_bound
from bsir.targets.aie2.channels import ChannelPlan
from bsir.targets.aie2.cost import Shares, group_time, on_array_s, weights_to_cores_s
from bsir.targets.aie2.geometry import LayerShape
from bsir.targets.aie2.hardware import AIE2Array, module_array
from bsir.targets.aie2.layer_shape import layer_shape
from bsir.targets.aie2.mapping import Split, split_plan
from bsir.targets.aie2.paper_cost import (
    PAPER_WRITE_CHANNELS,
    PaperIteration,
    paper_iteration,
    paper_repeat,
    paper_weight_loads,
)
from bsir.targets.aie2.program import DDRTiling, Subvolume


@dataclass(frozen=True)
class Event:
    """One bar of the timeline: a track, a name, start and duration in seconds."""

    track: str
    name: str
    start: float
    duration: float
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CoreBar:
    """A bar every core of the array draws alike, on its own track: its name, start,
    duration and arguments, and the transfer whose DMA channels it adds (None: none)."""

    name: str
    start: float
    duration: float
    args: dict
    stage: str | None = None


@dataclass
class LayerTime:
    name: str
    op: str
    macs: int
    macs_computed: int
    ddr_s: float = 0.0
    memtile_core_s: float = 0.0
    compute_s: float = 0.0
    split: dict = field(default_factory=dict)
    ddr_events: list[Event] = field(default_factory=list)
    """The timeline's DDR bars (per memtile)."""
    core_bars: list[list[CoreBar]] = field(default_factory=list)
    """The cores' bars, in runs that every core draws in turn (:attr:`events`)."""
    cores: tuple[tuple[int, int], ...] = ()
    plan: ChannelPlan | None = field(default=None, repr=False)
    """The DMA channels of the layer's transfers (the timeline's bars name them)."""
    memtile_bytes_used: int = 0
    blocks: tuple[int, int] | None = None
    """(kept, total) weight blocks of a block-sparse layer; None when dense."""
    keeps_zeros: bool = False
    """A block-sparse layer the mapper runs with its zeros (faster than compacted)."""
    bound_s: float = 0.0
    """No mapping of this layer under these rules is faster (targets/aie2/bound.py)."""
    bound_by: str = ""
    """The term of the bound that binds: DDR, weights to cores, compute, activations to
    cores or results from cores."""
    busy: dict[str, float] = field(default_factory=dict)
    """Seconds each stage is busy: LOAD, LOADW, WRITE (per memtile), LOADWDM, LOADFM,
    COMP, WRITEFM (per core). Streamed stages overlap, so they may add up to more than
    the layer's time."""
    binds: str = ""
    """The stage that accounts for most of the layer's time: DDR, LOADWDM, or the stage
    that paces its streamed groups (LOADFM, COMP or WRITEFM)."""
    start_s: float = 0.0
    """When the layer starts in the network's schedule (its window ends at start + total)."""
    hidden_ddr_s: float = 0.0
    """DDR time of the layer's weight load hidden under the layers before it (a
    prefetch, ``--overlap weights``): what its DDR phase would take more without it."""
    bound_ddr_s: float = 0.0
    """The DDR term of :attr:`bound_s` (its weights from DDR)."""

    @property
    def total_s(self) -> float:
        return self.ddr_s + self.memtile_core_s + self.compute_s

    @property
    def window_bound_s(self) -> float:
        """:attr:`bound_s` less the weight DDR time hidden under earlier layers: no faster
        window for the layer in this schedule (its bound when nothing was hidden)."""
        return self.bound_s - min(self.hidden_ddr_s, self.bound_ddr_s)

    @cached_property
    def events(self) -> list[Event]:
        """Every bar of the layer's timeline: its DDR bars, then each run of core bars
        drawn core by core (built when first asked: only traces and reports draw)."""
        events = list(self.ddr_events)
        routes: dict[tuple[str, int, int], dict[str, str]] = {}
        for run in self.core_bars:
            for r, c in self.cores:
                for bar in run:
                    args = bar.args
                    if bar.stage and self.plan is not None:
                        key = (bar.stage, r, c)
                        if key not in routes:
                            routes[key] = {"channels": self.plan.route(bar.stage, r, c)}
                        args = {**args, **routes[key]}
                    events.append(Event(f"core {r},{c}", bar.name, bar.start, bar.duration,
                                        args))
        return events

    def split_labels(self) -> tuple[str, str]:
        """The split as printed: cores (``W:4x4``; ``W+H2:4x4`` when the core rows form
        2 output-row parts) and subvolume (``HxWxCOUTxCIN``)."""
        split = self.split
        if not split:
            return "", ""
        parts = f"+H{split['parts']}" if split.get("parts", 1) > 1 else ""
        cores = f"{split['mode'].upper()}{parts}:{len(split['columns']) - 1}x" \
            f"{len(split['rows']) - 1}"
        return cores, "x".join(map(str, split["subvolume"]))


@dataclass
class NetworkTime:
    model: str
    array: AIE2Array
    layers: list[LayerTime]
    cost_model: str = "honest"
    overlapped: bool = False
    """Some weight loads run under earlier layers (``--overlap weights``)."""

    @property
    def total_s(self) -> float:
        """When the last layer ends: each layer starts when the one before it ends, so
        the sum of their windows."""
        return sum(layer.total_s for layer in self.layers)

    @property
    def hidden_ddr_s(self) -> float:
        """DDR time hidden under earlier layers' work (weight prefetches)."""
        return sum(layer.hidden_ddr_s for layer in self.layers)

    @property
    def ddr_s(self) -> float:
        """The DDR part of the total."""
        return sum(layer.ddr_s for layer in self.layers)

    @property
    def memtile_core_s(self) -> float:
        """The memtile<->core part of the total."""
        return sum(layer.memtile_core_s for layer in self.layers)

    @property
    def compute_s(self) -> float:
        """The compute part of the total."""
        return sum(layer.compute_s for layer in self.layers)

    @property
    def bound_s(self) -> float:
        """The sum of the layers' lower bounds; when weight loads may overlap earlier
        layers' work, the larger of the cores' floors (every layer's bound but its DDR
        term, and the first layer's weights, which nothing hides) and the weight
        channel's (every layer's weights, then the last layer's cores): no schedule is
        faster (docs/design.md)."""
        bounds = sum(layer.bound_s for layer in self.layers)
        if not self.overlapped or not self.layers:
            return bounds
        ddr = sum(layer.bound_ddr_s for layer in self.layers)
        first, last = self.layers[0], self.layers[-1]
        return max(bounds - ddr + first.bound_ddr_s,
                   ddr + last.bound_s - last.bound_ddr_s)

    @property
    def conv_s(self) -> float:
        """The convolutional part: every layer but the fully connected ones (the part
        the paper's Table 2 cells time)."""
        return sum(layer.total_s for layer in self.layers if layer.op != "tg.matmul")


def _groups(layer: aie2.LayerOp) -> list[tuple[str, aie2.InstructionOp, aie2.InstructionOp,
                                                 aie2.InstructionOp | None]]:
    """(phase, LOADFM, COMP, WRITEFM) in program order; WRITEFM None where the phase
    writes nothing (partial sums kept in the core's scratch)."""
    by_phase: dict[str, dict[type, aie2.InstructionOp]] = {}
    order: list[str] = []
    for op in layer.instructions:
        if isinstance(op, aie2.LoadFMOp | aie2.CompOp | aie2.WriteFMOp):
            phase = op.phase.data
            if phase not in by_phase:
                by_phase[phase] = {}
                order.append(phase)
            by_phase[phase][type(op)] = op
    return [(phase, by_phase[phase][aie2.LoadFMOp], by_phase[phase][aie2.CompOp],
             by_phase[phase].get(aie2.WriteFMOp)) for phase in order]


def time_layer(layer: aie2.LayerOp, array: AIE2Array, start: float = 0.0,
               stats: tuple[int, int] = (0, 0), cost_model: str = "honest",
               prefetched_s: float = 0.0) -> LayerTime:
    """The estimate of one layer, with its timeline events from ``start``, under bsir's
    rules (``cost_model`` "honest") or the paper's estimator's (``"paper"``,
    targets/aie2/paper_cost.py). ``prefetched_s``: seconds of its weight load already
    done under earlier layers (:func:`time_network` schedules prefetches)."""
    split = layer.split.as_dict()
    sub = Subvolume.of(layer)
    result = LayerTime(
        name=layer.layer_name.data, op=layer_op_name(layer), macs=stats[0],
        macs_computed=stats[1],
        split={"mode": split["mode"], "columns": list(split["cols"]), "rows": list(split["rows"]),
               "parts": split["parts"],
               "subvolume": [sub.h, sub.w, sub.cout, sub.cin],
               "cin_split": sub.cin_split,
               "sums_in_memtile": sub.sums_in_memtile,
               "sums_in_scratch": sub.sums_in_scratch,
               "columns_inside": sub.columns_inside,
               "ddr_passes": [layer.ddr.get("h_passes"), layer.ddr.get("cout_passes")]},
        keeps_zeros=layer.keeps_zeros is not None,
        blocks=(None if layer.compaction is None else
                (layer.compaction.get("kept_blocks"), layer.compaction.get("total_blocks"))),
    )
    shape = layer_shape(layer.inner)
    plan: ChannelPlan | None = None
    if shape is not None:
        bound = layer_bound(shape, array)
        result.bound_s, result.bound_by = bound.seconds, bound.bound_by
        result.bound_ddr_s = bound.terms["DDR"]
        plan = split_plan(shape, array, Split.of(layer), sub.sums_in_memtile)

    result.plan = plan
    result.cores = tuple((r, c) for r in range(array.rows) for c in range(array.cols))

    def route(stage: str, memtile: int) -> dict[str, str]:
        """The DMA channels a DDR transfer uses (timeline arguments)."""
        return {} if plan is None else {"channels": plan.ddr_route(stage, memtile)}

    paper = paper_rules(layer, shape) if cost_model == "paper" else None
    load_bw, store_bw = array.ddr_load_bandwidth(), array.ddr_store_bandwidth()
    if paper is not None:
        store_bw = PAPER_WRITE_CHANNELS * array.ddr_channel_gbps * 1e9
    load = loadw = write = 0.0
    moved_by_kind = {"LOAD": 0, "LOADW": 0, "WRITE": 0}
    for op in layer.instructions:
        moved = op.nbytes * op.iterations * op.repeats
        if isinstance(op, aie2.LoadOp):
            load += moved / load_bw
            moved_by_kind["LOAD"] += moved
        elif isinstance(op, aie2.LoadWOp):
            loadw += moved / load_bw
            moved_by_kind["LOADW"] += moved
        elif isinstance(op, aie2.WriteOp):
            write += moved / store_bw
            moved_by_kind["WRITE"] += moved
    t = start
    result.start_s = start
    memtiles = range(array.memtiles)
    exposed = max(0.0, loadw - prefetched_s)  # what is left to load when the layer starts
    result.hidden_ddr_s = max(load, loadw) - max(load, exposed)
    if load or exposed:
        for m in memtiles:
            if load:
                result.ddr_events.append(Event(f"DDR memtile {m} ch0", "LOAD", t, load,
                                           {"bytes": moved_by_kind["LOAD"],
                                            **route("LOAD", m)}))
            if exposed:
                result.ddr_events.append(Event(f"DDR memtile {m} ch1", "LOADW", t, exposed,
                                           {"bytes": moved_by_kind["LOADW"],
                                            **route("LOADW", m)}))
    t += max(load, exposed)
    if write:
        for m in memtiles:
            result.ddr_events.append(Event(f"DDR memtile {m} ch0+1", "WRITE", t, write,
                                       {"bytes": moved_by_kind["WRITE"],
                                        **route("WRITE", m)}))
        t += write
    result.ddr_s = max(load, exposed) + write
    result.busy = {"LOAD": load, "LOADW": loadw, "WRITE": write, "LOADWDM": 0.0,
                   "LOADFM": 0.0, "COMP": 0.0, "WRITEFM": 0.0}
    paced = {"DDR": result.ddr_s, "LOADWDM": 0.0, "LOADFM": 0.0, "COMP": 0.0,
             "WRITEFM": 0.0}
    weights = [op for op in layer.instructions if isinstance(op, aie2.LoadWDMOp)]
    groups = []
    for phase, loadfm, comp, writefm in _groups(layer):
        repeat = loadfm.repeats
        if paper is None:
            written, write_share = (writefm.nbytes, writefm.shares) if writefm else (0, 1)
            amounts = {"LOADFM": {"bytes": loadfm.nbytes, "share": loadfm.shares},
                       "COMP": {"macs": comp.field("macs")},
                       "WRITEFM": {"bytes": written, "share": write_share}}
            timed = group_time(loadfm.nbytes, comp.field("macs"), written,
                               loadfm.iterations, loadfm.repeats, array,
                               Shares(loadfm=loadfm.shares, writefm=write_share))
        else:
            iteration, sub = paper
            amounts = {"LOADFM": {"bytes": iteration.loadfm_bytes},
                       "COMP": {"macs": iteration.comp_cycles(array) * array.macs_per_cycle},
                       "WRITEFM": {"bytes": iteration.writefm_bytes}}
            repeat = paper_repeat(shape, sub, loadfm.repeats)
            timed = iteration.group(loadfm.iterations, repeat, array)
        groups.append((phase, loadfm, amounts, timed, repeat))
    passes = DDRTiling.of(layer).passes
    weight_loads = [(op.moved_bytes, 1, op.shares) if paper is None
                    else (op.nbytes, paper_weight_loads(passes), 1) for op in weights]
    result.memtile_core_s, result.compute_s = on_array_s(
        weight_loads, [group[3] for group in groups], array)
    for op, (nbytes, loads, share) in zip(weights, weight_loads, strict=True):
        duration = weights_to_cores_s(nbytes, loads, array, share)
        result.busy["LOADWDM"] += duration
        paced["LOADWDM"] += duration
        result.core_bars.append([CoreBar("LOADWDM", t, duration,
                                         {"bytes": op.nbytes, "moved": nbytes * loads,
                                          "iter": op.iterations, "repeat": op.repeats,
                                          "share": op.shares}, "LOADWDM")])
        t += duration
    for phase, loadfm, amounts, timed, repeat in groups:
        for stage, seconds in timed.paced:
            paced[stage] += seconds
        for stage, _, length in timed.spans:
            result.busy[stage] += length
        result.core_bars.append([
            CoreBar(f"{stage} {phase}", t + offset, length,
                    {**amounts[stage], "iter": loadfm.iterations, "repeat": repeat},
                    stage if stage != "COMP" else None)
            for stage, offset, length in timed.spans if length > 0])
        t += timed.duration
    result.binds = max(paced, key=paced.__getitem__)
    place = layer.placement
    if place is not None:
        result.memtile_bytes_used = sum(
            size for _, size in tiling.PlacementAttr.pairs(place.get("live")))
    return result


def paper_rules(layer: aie2.LayerOp, shape: LayerShape | None
                ) -> tuple[PaperIteration, Subvolume] | None:
    """The iteration the paper's estimator charges for a layer, and its subvolume
    (None for a layer without a geometry: it keeps bsir's rules)."""
    if shape is None:
        return None
    sub = Subvolume.of(layer)
    density = 1.0
    if layer.compaction is not None and layer.keeps_zeros is None:
        density = layer.compaction.get("kept_blocks") / max(
            layer.compaction.get("total_blocks"), 1)
    split = Split.of(layer)
    return paper_iteration(shape, sub, split.channel_slices, density, split.row_parts), sub


def layer_op_name(layer: aie2.LayerOp) -> str:
    """The op a layer maps, with ``+add`` when an addition is fused into it."""
    fused = any(isinstance(op, tg.AddOp) for op in layer.body.block.ops
                if op is not layer.inner)
    return layer.inner.name + ("+add" if fused else "")


def time_network(module: ModuleOp, cost_model: str = "honest",
                 bandwidths: AIE2Array | None = None) -> NetworkTime:
    """Time every ``aie2.layer`` of the module in schedule order, on the array the
    module was mapped onto (its ``#tiling.array``), under ``cost_model``; with
    ``bandwidths``, at that array's rates instead (the same grid and tiles, say the
    paper's GiB/s: the same program timed by another estimator)."""
    array = module_array(module)
    if bandwidths is not None:
        if (bandwidths.rows, bandwidths.cols) != (array.rows, array.cols):
            raise BsirError(f"{bandwidths.name} is not the {array.rows}x{array.cols} grid "
                            f"the module was mapped onto")
        array = replace(array, name=bandwidths.name,
                        ddr_channel_gbps=bandwidths.ddr_channel_gbps,
                        link_gbps=bandwidths.link_gbps, clock_ghz=bandwidths.clock_ghz)
    graph = only_graph(module)
    ops = [op for op in graph.block.ops if isinstance(op, aie2.LayerOp)]
    prefetches = [] if cost_model == "paper" else weight_prefetches(ops, array)
    by_layer = {prefetch.layer: prefetch for prefetch in prefetches}
    layers, t = [], 0.0
    for position, op in enumerate(ops):
        macs, density = op_macs(op.inner)
        if op.keeps_zeros is not None:  # run with its zeros: every MAC computed
            density = 1.0
        mine = by_layer.get(position)
        timed = time_layer(op, array, t, (macs, round(macs * density)), cost_model,
                           mine.done_s if mine is not None else 0.0)
        layers.append(timed)
        # the cores compute: the weight channel loads what is issued for later layers
        # (their bars drawn under this layer)
        cursor, end = t + timed.ddr_s, t + timed.total_s
        for prefetch in prefetches:
            if prefetch.issued <= position < prefetch.layer and cursor < end:
                cursor = prefetch.advance(cursor, end, array, timed.ddr_events)
        t += timed.total_s
    return NetworkTime(graph.sym_name.data, array, layers, cost_model,
                       overlapped=bool(prefetches))


@dataclass
class Prefetch:
    """A weight load issued ahead: the position of its layer, of the layer it is issued
    under, its seconds on the weight channel and how many are done."""

    layer: int
    issued: int
    seconds: float
    name: str
    nbytes: int
    done_s: float = 0.0

    def advance(self, start: float, end: float, array: AIE2Array, bars: list[Event]) -> float:
        """Load from ``start`` until done or ``end``, adding its bars (on the DDR tracks
        of the layer it runs under) to ``bars``; returns when the channel is free."""
        run = min(self.seconds - self.done_s, end - start)
        if run <= 0:
            return start
        self.done_s += run
        for m in range(array.memtiles):
            bars.append(Event(f"DDR memtile {m} ch1", f"LOADW {self.name} (ahead)", start,
                              run, {"bytes": self.nbytes, "ahead": True}))
        return start + run


def weight_prefetches(layers: list[aie2.LayerOp], array: AIE2Array) -> list[Prefetch]:
    """The weight loads issued ahead, in layer order."""
    found = []
    for position, op in aie2.prefetched_loads(layers):  # its first load (or part of it)
        early = op.field("early", op.nbytes)
        found.append(Prefetch(position, position - op.field("ahead"),
                              early / array.ddr_load_bandwidth(),
                              layers[position].layer_name.data, early))
    return found
