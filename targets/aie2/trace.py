"""Chrome / Perfetto trace JSON of a compiled network (open it at ui.perfetto.dev).

One track per DDR channel, per memtile link and per core, a ``layers`` track with one
bar per layer, and a counter track of memtile occupancy. Times are in microseconds.
"""

from __future__ import annotations

import json

from bsir.files import write_text
from bsir.targets.aie2.time_model import NetworkTime

MICRO = 1e6


def trace_events(timing: NetworkTime) -> list[dict]:
    """The ``traceEvents`` list."""
    tracks: dict[str, int] = {"layers": 0}
    events: list[dict] = []
    t = 0.0
    for layer in timing.layers:
        events.append({"name": layer.name, "cat": layer.op, "ph": "X", "pid": 1, "tid": 0,
                       "ts": t * MICRO, "dur": layer.total_s * MICRO,
                       "args": {"ddr_us": layer.ddr_s * MICRO,
                                "memtile_core_us": layer.memtile_core_s * MICRO,
                                "compute_us": layer.compute_s * MICRO,
                                "macs_computed": layer.macs_computed}})
        events.append({"name": "memtile occupancy", "ph": "C", "pid": 1, "ts": t * MICRO,
                       "args": {"bytes": layer.memtile_bytes_used}})
        for event in layer.events:
            tid = tracks.setdefault(event.track, len(tracks))
            events.append({"name": event.name, "cat": layer.name, "ph": "X", "pid": 1,
                           "tid": tid, "ts": event.start * MICRO,
                           "dur": event.duration * MICRO, "args": event.args})
        t += layer.total_s
    meta = [{"name": "process_name", "ph": "M", "pid": 1,
             "args": {"name": f"{timing.model} on {timing.array.name}"}}]
    meta += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}
             for name, tid in tracks.items()]
    meta += [{"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
              "args": {"sort_index": tid}} for tid in tracks.values()]
    return meta + events


def write_trace(path: str, timing: NetworkTime) -> None:
    """Write the Chrome/Perfetto trace of ``timing`` to ``path``."""
    write_text(path, json.dumps({"traceEvents": trace_events(timing),
                                 "displayTimeUnit": "ns"}))
