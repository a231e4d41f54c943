"""Self-contained HTML reports: a compiled network's timeline, and the paper's Table 2.

``write_report(path, results)`` writes one HTML file holding the data of one or more
compilations of a model (dense and sparse side by side when both were compiled) and the
script that draws them: a sortable layer table, a Gantt timeline that zooms from the
network into one layer's instructions per DDR channel and core, memtile occupancy, and
the dense-vs-sparse comparison. ``write_table2_report(path, cells)`` draws Table 2, ours
beside the paper's. No file refers to anything outside itself: the style, the script and
the data are inlined, so the report opens offline in any browser.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Protocol

from bsir.files import write_text
from bsir.targets.aie2.hardware import AIE2Array
from bsir.targets.aie2.time_model import LayerTime, NetworkTime


class CompileResult(Protocol):
    """What the report reads of one compilation (``bsir.driver.compile.CompileResult``)."""

    model: str
    array: AIE2Array
    sparsity: float
    timing: NetworkTime | None
    failed: str | None

MICRO = 1e6
ASSETS = "report_assets"


def _us(seconds: float) -> float:
    """Seconds as microseconds, rounded to a tenth of a nanosecond (keeps the file small)."""
    return round(seconds * MICRO, 4)


def _split_label(layer: LayerTime) -> str:
    cores, sub = layer.split_labels()
    if not cores:
        return ""
    sums = " (sums in memtile)" if layer.split.get("sums_in_memtile") else \
        " (sums in core)" if layer.split.get("sums_in_scratch") else ""
    return f"{cores} sub {sub}" + (f" cin-split{sums}" if layer.split.get("cin_split") else "")


class _Interner:
    """Strings stored once, events refer to them by index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def run_data(result: CompileResult, label: str) -> dict:
    """One compilation as the report's script reads it (times in microseconds).

    Events are ``[track, name, start, duration, bytes, macs, iter, repeat, channels]``
    with track, name and channels (the DMA channels a transfer uses, -1 for none) indices
    into ``tracks``, ``names`` and ``channels``, start relative to the layer."""
    if result.timing is None:
        raise ValueError(f"{result.model} on {result.array.name} did not compile: "
                         f"{result.failed}")
    tracks, names, channels = _Interner(), _Interner(), _Interner()
    layers, t = [], 0.0
    for layer in result.timing.layers:
        events = [[tracks(e.track), names(e.name), _us(e.start - t), _us(e.duration),
                   e.args.get("bytes", 0), e.args.get("macs", 0), e.args.get("iter", 1),
                   e.args.get("repeat", 1),
                   channels(e.args["channels"]) if "channels" in e.args else -1]
                  for e in layer.events]
        layers.append({
            "name": layer.name, "op": layer.op.removeprefix("tg."), "split": _split_label(layer),
            "macs": layer.macs, "macs_computed": layer.macs_computed,
            "start": _us(t), "ddr": _us(layer.ddr_s), "memtile_core": _us(layer.memtile_core_s),
            "compute": _us(layer.compute_s), "total": _us(layer.total_s),
            "bound": _us(layer.window_bound_s), "bound_by": layer.bound_by,
            "binds": layer.binds, "hidden_ddr": _us(layer.hidden_ddr_s),
            "busy": {stage: _us(seconds) for stage, seconds in layer.busy.items() if seconds},
            "memtile_bytes": layer.memtile_bytes_used, "events": events,
        })
        t += layer.total_s
    array = result.array
    return {
        "label": label, "model": result.model, "hardware": array.name,
        "grid": [array.rows, array.cols], "memtiles": array.memtiles,
        "memtile_mode": array.memtile_mode, "sparsity": result.sparsity,
        "memtile_capacity": array.memtile_bytes * array.memtiles,
        "total": _us(result.timing.total_s), "bound": _us(result.timing.bound_s),
        "tracks": tracks.items, "names": names.items, "channels": channels.items,
        "layers": layers,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(ASSETS, name).read_text(encoding="utf-8")


def _page(title: str, kind: str, data: object, script: str) -> str:
    """The HTML shell with style, data and scripts inlined."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    shell = _asset("shell.html")
    return (shell.replace("{{TITLE}}", _escape(title)).replace("{{STYLE}}", _asset("report.css"))
            .replace("{{KIND}}", kind).replace("{{DATA}}", payload)
            .replace("{{COMMON}}", _asset("common.js")).replace("{{SCRIPT}}", _asset(script)))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report_html(results: list[tuple[str, CompileResult]]) -> str:
    """The compile report of labelled compilations of one model (e.g. dense, sparse)."""
    runs = [run_data(result, label) for label, result in results]
    first = runs[0]
    title = f"bsir: {first['model']} on {first['hardware']}"
    return _page(title, "compile", {"runs": runs}, "timeline.js")


def write_report(path: str, results: list[tuple[str, CompileResult]]) -> None:
    """Write :func:`report_html` to ``path``."""
    write_text(path, report_html(results))


def table2_html(cells: list[dict]) -> str:
    """Table 2 as a chart: for each model and grid, ours (under bsir's rules and under
    the paper's estimator) beside the paper's, dense and sparse (``cells`` as
    :func:`bsir.driver.table2.run_table2` returns them)."""
    keep = ("model", "grid", "sparsity", "total_s", "conv_s", "failed", "paper_s",
            "paper_schedule_s", "cost_model", "hardware")
    return _page("bsir: Table 2, ours beside the paper's", "table2",
                 {"cells": [{key: cell.get(key) for key in keep} for cell in cells]},
                 "table2.js")


def write_table2_report(path: str, cells: list[dict]) -> None:
    """Write :func:`table2_html` to ``path``."""
    write_text(path, table2_html(cells))


def fronts_html(data: dict) -> str:
    """A sweep's Pareto fronts (``data`` as :func:`bsir.driver.sweep.front_data` makes
    it): per model, estimated time against cores and against the weights kept, with the
    front marked, and the sparse speed-up of each grid."""
    return _page("bsir sweep: Pareto fronts", "sweep", data, "sweep.js")


def write_fronts_report(path: str, data: dict) -> None:
    """Write :func:`fronts_html` to ``path``."""
    write_text(path, fronts_html(data))
