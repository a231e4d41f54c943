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
"""

from __future__ import annotations

from collections.abc import Iterable

from bsir.targets.aie2.hardware import AIE2Array


def weights_to_cores_s(nbytes: int, loads: int, array: AIE2Array) -> float:
    """Seconds of ``loads`` halting LOADWDMs of ``nbytes`` each."""
    return nbytes * loads / array.link_bandwidth()


def group_s(in_bytes: int, macs: int, out_bytes: int, iterations: int, repeat: int,
            array: AIE2Array) -> tuple[float, float]:
    """(memtile<->core, compute) seconds of one streamed group."""
    link, rate = array.link_bandwidth(), array.macs_per_second
    t_in, t_c, t_out = in_bytes / link, macs / rate, out_bytes / link
    if iterations == 1:
        return (t_in + t_out) * repeat, t_c * repeat
    duration = iterations * max(t_in, t_c, t_out) * repeat
    return (0.0, duration) if t_c >= max(t_in, t_out) else (duration, 0.0)


def on_array_s(weight_loads: Iterable[tuple[int, int]],
               groups: Iterable[tuple[int, int, int, int, int]],
               array: AIE2Array) -> tuple[float, float]:
    """(memtile<->core, compute) seconds of a layer on the array: its LOADWDMs as
    (bytes, count), then its streamed groups as (in bytes, MACs, out bytes, iterations,
    repeat)."""
    memtile_core = compute = 0.0
    for nbytes, loads in weight_loads:
        memtile_core += weights_to_cores_s(nbytes, loads, array)
    for group in groups:
        moving, computing = group_s(*group, array)
        memtile_core += moving
        compute += computing
    return memtile_core, compute
