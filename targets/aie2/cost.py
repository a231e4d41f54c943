"""The cost function of the AIE2 time model (docs/design.md), in one place.

The time model applies it to a lowered layer's instructions; the mapper applies it to the
program of every mapping it considers (targets/aie2/program.py). Both call the same
functions in the same order, so the cost of the chosen mapping is, to the last bit, the
memtile<->core and compute time the time model reports for the layer (tested).

- LOADWDM (weights memtile -> cores) is synchronous and halting: its time adds.
- A streamed group of ``n`` iterations, each loading ``in`` bytes, computing ``macs`` and
  storing ``out`` bytes: with ``n`` 1, one after another; with ``n`` > 1 they overlap,
  ``n x max(load, compute, store)``. A group runs ``repeat`` times. Its time counts as
  compute when compute is its longest stage, else as memtile<->core time.
- A transfer whose DMA channel is time-shared by ``share`` cores (targets/aie2/channels.py)
  takes ``share`` times as long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bsir.targets.aie2.hardware import AIE2Array

STREAM_STAGES = ("LOADFM", "COMP", "WRITEFM")

OVERLAPS = ("none", "weights")
"""What may run across layers (``--overlap``): nothing, as the paper's schedule, or each
layer's weight load under the layers before it (targets/aie2/time_model.py)."""


@dataclass(frozen=True)
class Shares:
    """How many cores share one DMA channel, per memtile<->core transfer (1: none)."""

    loadfm: int = 1
    loadwdm: int = 1
    writefm: int = 1


UNSHARED = Shares()
"""Every transfer on a DMA channel of its own."""


@dataclass(frozen=True)
class GroupTime:
    """The time of one streamed group on a core: one stage after another for one
    iteration, else overlapped and paced by the slowest."""

    duration: float
    stage_s: tuple[float, float, float]
    """Seconds LOADFM, COMP and WRITEFM take for one iteration."""
    iterations: int
    repeat: int
    pacing: str
    """The stage the duration is charged to when the stages overlap."""

    @property
    def overlapped(self) -> bool:
        return self.iterations != 1

    @property
    def spans(self) -> tuple[tuple[str, float, float], ...]:
        """(stage, start within the group, seconds busy) of LOADFM, COMP and WRITEFM."""
        if not self.overlapped:
            lengths = tuple(t * self.repeat for t in self.stage_s)
            starts = (0.0, lengths[0], lengths[0] + lengths[1])
            return tuple(zip(STREAM_STAGES, starts, lengths, strict=True))
        return tuple((stage, 0.0, self.iterations * t * self.repeat)
                     for stage, t in zip(STREAM_STAGES, self.stage_s, strict=True))

    @property
    def paced(self) -> tuple[tuple[str, float], ...]:
        """The stages the group's duration is charged to, and how much to each: all
        three in turn for one iteration, else the slowest stage for all of it."""
        if not self.overlapped:
            return tuple(zip(STREAM_STAGES, (t * self.repeat for t in self.stage_s),
                             strict=True))
        return ((self.pacing, self.duration),)

    @property
    def memtile_core_s(self) -> float:
        if not self.overlapped:
            t_in, _, t_out = self.stage_s
            return t_in * self.repeat + t_out * self.repeat
        return self.duration if self.pacing != "COMP" else 0.0

    @property
    def compute_s(self) -> float:
        if not self.overlapped:
            return self.stage_s[1] * self.repeat
        return self.duration if self.pacing == "COMP" else 0.0


def weights_to_cores_s(nbytes: int, loads: int, array: AIE2Array, share: int = 1) -> float:
    """Seconds of ``loads`` halting LOADWDMs of ``nbytes`` each, ``share`` cores to a
    channel."""
    return nbytes * loads * share / array.link_bandwidth()


def group_time(in_bytes: int, macs: int, out_bytes: int, iterations: int, repeat: int,
               array: AIE2Array, shares: Shares = UNSHARED) -> GroupTime:
    """The time of one streamed group, its stages and the stage that paces it."""
    link, rate = array.link_bandwidth(), array.macs_per_second
    t_in = in_bytes * shares.loadfm / link
    t_c = macs / rate
    t_out = out_bytes * shares.writefm / link
    if iterations == 1:
        duration = t_in * repeat + t_c * repeat + t_out * repeat
        return GroupTime(duration, (t_in, t_c, t_out), 1, repeat, "")
    duration = iterations * max(t_in, t_c, t_out) * repeat
    pacing = "COMP" if t_c >= max(t_in, t_out) else "LOADFM" if t_in >= t_out else "WRITEFM"
    return GroupTime(duration, (t_in, t_c, t_out), iterations, repeat, pacing)


def on_array_s(weight_loads: Iterable[tuple[int, int, int]], groups: Iterable[GroupTime],
               array: AIE2Array) -> tuple[float, float]:
    """(memtile<->core, compute) seconds of a layer on the array: its LOADWDMs as
    (bytes, count, share), then its streamed groups (:func:`group_time`)."""
    memtile_core = compute = 0.0
    for nbytes, loads, share in weight_loads:
        memtile_core += weights_to_cores_s(nbytes, loads, array, share)
    for group in groups:
        memtile_core += group.memtile_core_s
        compute += group.compute_s
    return memtile_core, compute
