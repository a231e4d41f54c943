// The compile report: layer table, Gantt timeline (network -> one layer's instructions per
// DDR channel and core), memtile occupancy, dense-vs-sparse comparison.
"use strict";
(function () {
  const runs = DATA.runs;
  const main = document.getElementById("main");
  const KINDS = ["LOAD", "LOADW", "WRITE", "LOADWDM", "LOADFM", "COMP", "WRITEFM"];
  const KIND_COLOR = k => `var(--${k})`;
  const LEFT = 118, RIGHT = 12, AXIS = 26;
  // a core's row has three lanes, so pipelined stages (iter > 1) show their overlap
  const LANE = {LOADWDM: 0, LOADFM: 0, COMP: 1, WRITEFM: 2};
  let current = runs.length - 1;  // the compilation asked for; the first is the baseline
  let view = {layer: null, lo: 0, hi: runs[current].total};

  const run = () => runs[current];
  const width = () => Math.max(640, main.clientWidth);
  const componentsMs = r => {
    const sum = key => r.layers.reduce((s, l) => s + l[key], 0) / 1000;
    return {ddr: sum("ddr"), memtile: sum("memtile_core"), compute: sum("compute")};
  };

  // ---------------------------------------------------------------- header
  const summary = document.getElementById("summary");
  for (const r of runs) {
    const c = componentsMs(r);
    const line = el("div", {}, summary);
    el("b", {}, line, `${r.label}: ${(r.total / 1000).toFixed(3)} ms`);
    line.append(` = DDR ${c.ddr.toFixed(3)} + memtile\u2194core ${c.memtile.toFixed(3)} + ` +
      `compute ${c.compute.toFixed(3)} ms \u00b7 ${r.model} on ${r.hardware} (` +
      `${r.grid[0]}x${r.grid[1]} cores, ${r.memtiles} memtiles, ${r.memtile_mode}) \u00b7 ` +
      `${r.layers.length} layers \u00b7 ${sparsityLabel(r)}`);
    if (r.bound) {
      el("div", {class: "hint"}, summary,
         `lower bound ${(r.bound / 1000).toFixed(3)} ms: the mapping reaches ` +
         `${(100 * r.bound / r.total).toFixed(0)} % of what no mapping can beat ` +
         `(the dark tick in each layer bar marks its bound)`);
    }
  }
  function sparsityLabel(r) {
    const macs = r.layers.reduce((s, l) => s + l.macs, 0);
    const computed = r.layers.reduce((s, l) => s + l.macs_computed, 0);
    return r.sparsity > 0 ? `sparsity ${r.sparsity}, ${(100 * computed / macs).toFixed(1)} % of MACs computed`
                          : `${(100 * computed / macs).toFixed(1)} % of MACs computed`;
  }

  // ---------------------------------------------------------------- run tabs
  if (runs.length > 1) {
    const bar = el("div", {class: "toolbar", id: "runs"}, main);
    el("span", {class: "hint"}, bar, "Show:");
    runs.forEach((r, i) => {
      const b = el("button", {"data-run": i, "aria-pressed": i === current}, bar, r.label);
      b.addEventListener("click", () => {
        current = i;
        bar.querySelectorAll("button").forEach(x => x.setAttribute("aria-pressed", x === b));
        view = {layer: null, lo: 0, hi: run().total};
        drawAll();
        drawTable();
      });
    });
  }

  // ---------------------------------------------------------------- timeline
  const tl = el("section", {id: "timeline-section"}, main);
  el("h2", {}, tl, "Timeline");
  const tools = el("div", {class: "toolbar"}, tl);
  const back = el("button", {id: "back", disabled: ""}, tools, "\u2190 whole network");
  const viewLabel = el("span", {id: "view-label"}, tools);
  el("span", {class: "hint"}, tools,
     "click a layer to zoom into it \u00b7 wheel zooms, drag pans, double-click resets");
  const timelineLegend = el("div", {}, tl);
  const timeline = svgEl("svg", {id: "timeline", role: "img"}, tl);
  back.addEventListener("click", () => { view = {layer: null, lo: 0, hi: run().total}; drawAll(); });

  function trackOrder(names) {
    const key = name => {
      const core = /^core (\d+),(\d+)$/.exec(name);
      return core ? [1, +core[1], +core[2], name] : [0, 0, 0, name];
    };
    return names.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
      return x[3].localeCompare(y[3]);
    });
  }

  function drawTimeline() {
    const r = run(), W = width();
    clear(timeline);
    clear(timelineLegend);
    const plotW = W - LEFT - RIGHT;
    const scale = v => LEFT + (v - view.lo) / (view.hi - view.lo) * plotW;
    const defs = svgEl("defs", {}, timeline);
    const clip = svgEl("clipPath", {id: "plot-clip"}, defs);
    let height;
    back.disabled = view.layer === null;
    if (view.layer === null) {
      legend(timelineLegend, [["DDR", "var(--ddr)"], ["memtile\u2194core", "var(--memtile)"],
                              ["compute", "var(--compute)"]]);
      viewLabel.textContent = `${r.model}: ${r.layers.length} layers, ${fmtUs(r.total)}`;
      const rowY = 6, rowH = 34;
      height = rowY + rowH + 8 + AXIS;
      svgEl("rect", {x: LEFT, y: 0, width: plotW, height: rowY + rowH + 4}, clip);
      svgEl("text", {x: LEFT - 8, y: rowY + rowH / 2 + 4, "text-anchor": "end",
                     class: "track-label"}, timeline, "layers");
      const plot = svgEl("g", {"clip-path": "url(#plot-clip)"}, timeline);
      r.layers.forEach((layer, i) => {
        if (layer.start + layer.total < view.lo || layer.start > view.hi) return;
        const g = svgEl("g", {class: "layer", "data-index": i, "data-name": layer.name}, plot);
        let t = layer.start;
        for (const [key, cls] of [["ddr", "seg-ddr"], ["memtile_core", "seg-memtile"],
                                  ["compute", "seg-compute"]]) {
          const x0 = scale(t), x1 = scale(t + layer[key]);
          if (layer[key] > 0) {
            svgEl("rect", {class: cls, x: x0, y: rowY, height: rowH,
                           width: Math.max(0.5, x1 - x0)}, g);
          }
          t += layer[key];
        }
        const x0 = scale(layer.start), x1 = scale(layer.start + layer.total);
        svgEl("line", {x1: x1, x2: x1, y1: rowY, y2: rowY + rowH, stroke: "#fff",
                       "stroke-width": 0.7}, g);
        if (layer.bound > 0) {
          const xb = scale(layer.start + layer.bound);
          svgEl("line", {class: "bound-mark", x1: xb, x2: xb, y1: rowY + rowH * 0.55,
                         y2: rowY + rowH, stroke: "#222", "stroke-width": 1.2}, g);
        }
        if (x1 - x0 > 8 * layer.name.length) {
          svgEl("text", {x: x0 + 3, y: rowY + 13, "pointer-events": "none"}, g, layer.name);
        }
        withTooltip(g, () => layerTip(layer));
        g.addEventListener("click", () => { if (!dragged) zoomToLayer(i); });
      });
      xAxis(timeline, scale, view.lo, view.hi, rowY + rowH + 6, fmtUs, rowY);
    } else {
      const layer = r.layers[view.layer];
      const used = [...new Set(layer.events.map(e => r.tracks[e[0]]))];
      const order = trackOrder(used);
      const rowOf = new Map(order.map((name, i) => [name, i]));
      const rowH = Math.max(12, Math.min(21, Math.floor(720 / Math.max(1, order.length))));
      const laneH = (rowH - 3) / 3;
      const present = new Set(layer.events.map(e => r.names[e[1]].split(" ")[0]));
      legend(timelineLegend, KINDS.filter(k => present.has(k)).map(k => [k, KIND_COLOR(k)]));
      viewLabel.textContent = `layer ${layer.name} (${layer.op}, ${layer.split}): ` +
        `${layer.events.length} instructions on ${order.length} tracks, ${fmtUs(layer.total)}`;
      height = order.length * rowH + 8 + AXIS;
      svgEl("rect", {x: LEFT, y: 0, width: plotW, height: order.length * rowH + 4}, clip);
      order.forEach((name, i) => {
        if (i % 2) svgEl("rect", {x: LEFT, y: i * rowH, width: plotW, height: rowH,
                                  fill: "var(--band)"}, timeline);
        if (rowH >= 10 || i % 2 === 0) {
          svgEl("text", {x: LEFT - 8, y: i * rowH + rowH / 2 + 4, "text-anchor": "end",
                         class: "track-label"}, timeline, name);
        }
      });
      const plot = svgEl("g", {"clip-path": "url(#plot-clip)"}, timeline);
      layer.events.forEach((e, k) => {
        const [track, nameIndex, start, dur] = e;
        if (start + dur < view.lo || start > view.hi) return;
        const name = r.names[nameIndex], kind = name.split(" ")[0];
        const x0 = scale(start), x1 = scale(start + dur), top = rowOf.get(r.tracks[track]) * rowH;
        const lane = LANE[kind];
        const bar = svgEl("rect", {class: `bar kind-${kind}`, "data-event": k, "data-kind": kind,
                                   x: x0, width: Math.max(1, x1 - x0),
                                   y: lane === undefined ? top + 1 : top + 1 + lane * (laneH + 0.5),
                                   height: lane === undefined ? rowH - 2 : laneH}, plot);
        withTooltip(bar, () => eventTip(r, layer, e));
      });
      xAxis(timeline, scale, view.lo, view.hi, order.length * rowH + 4, fmtUs, 0);
    }
    timeline.setAttribute("width", W);
    timeline.setAttribute("height", height);
    timeline.setAttribute("viewBox", `0 0 ${W} ${height}`);
  }

  function layerTip(layer) {
    const share = v => `${fmtUs(v)} (${(100 * v / Math.max(layer.total, 1e-12)).toFixed(0)} %)`;
    return [`${layer.name} \u00b7 ${layer.op}`, [
      ["split", layer.split || "-"], ["total", fmtUs(layer.total)],
      ["DDR", share(layer.ddr)],
      ...(layer.hidden_ddr ? [["DDR hidden under earlier layers", fmtUs(layer.hidden_ddr)]]
        : []),
      ["memtile\u2194core", share(layer.memtile_core)],
      ["compute", share(layer.compute)],
      ["paced by", layer.binds || "-"],
      ...Object.entries(layer.busy || {}).map(([stage, us]) => [`${stage} busy`, fmtUs(us)]),
      ["lower bound", layer.bound ? `${fmtUs(layer.bound)} (${layer.bound_by}; ` +
        `${(100 * layer.bound / Math.max(layer.total, 1e-12)).toFixed(0)} % of the estimate)` : "-"],
      ["MACs", `${fmtCount(layer.macs_computed)} of ${fmtCount(layer.macs)}`],
      ["starts at", fmtUs(layer.start)]]];
  }

  function eventTip(r, layer, e) {
    const [track, nameIndex, start, dur, bytes, macs, iter, repeat, channel] = e;
    const rows = [["track", r.tracks[track]], ["layer", layer.name]];
    if (bytes) rows.push(["bytes", `${fmtCount(bytes)} (${fmtBytes(bytes)})`]);
    if (channel >= 0) rows.push(["DMA channels", r.channels[channel]]);
    if (macs) rows.push(["MACs", fmtCount(macs)]);
    rows.push(["iterations", `${iter} \u00d7 ${repeat} repeat${repeat === 1 ? "" : "s"}`]);
    rows.push(["time", fmtUs(dur)], ["starts at", `${fmtUs(start)} into the layer`]);
    return [r.names[nameIndex], rows];
  }

  function zoomToLayer(i) {
    const layer = run().layers[i];
    view = {layer: i, lo: 0, hi: layer.total};
    drawAll();
    tl.scrollIntoView({block: "nearest"});
  }

  // wheel zoom, drag pan, double-click reset
  let drag = null, dragged = false;
  const fullRange = () => view.layer === null ? [0, run().total] : [0, run().layers[view.layer].total];
  const clampView = () => {
    const [lo, hi] = fullRange(), span = Math.min(hi - lo, view.hi - view.lo);
    view.lo = Math.min(Math.max(lo, view.lo), hi - span);
    view.hi = view.lo + span;
  };
  timeline.addEventListener("wheel", ev => {
    ev.preventDefault();
    const box = timeline.getBoundingClientRect(), plotW = width() - LEFT - RIGHT;
    const f = Math.min(1, Math.max(0, (ev.clientX - box.left - LEFT) / plotW));
    const at = view.lo + f * (view.hi - view.lo);
    const [lo, hi] = fullRange();
    const span = Math.min(hi - lo, Math.max((hi - lo) * 1e-4, (view.hi - view.lo) * Math.exp(ev.deltaY * 0.002)));
    view.lo = at - f * span;
    view.hi = view.lo + span;
    clampView();
    hideTooltip();
    drawTimeline();
  }, {passive: false});
  timeline.addEventListener("mousedown", ev => {
    drag = {x: ev.clientX, lo: view.lo, hi: view.hi};
    dragged = false;
  });
  window.addEventListener("mousemove", ev => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) dragged = true;
    if (!dragged) return;
    const shift = dx / (width() - LEFT - RIGHT) * (drag.hi - drag.lo);
    view.lo = drag.lo - shift;
    view.hi = drag.hi - shift;
    clampView();
    drawTimeline();
  });
  window.addEventListener("mouseup", () => { drag = null; setTimeout(() => { dragged = false; }, 0); });
  timeline.addEventListener("dblclick", () => {
    const [lo, hi] = fullRange();
    view.lo = lo;
    view.hi = hi;
    drawTimeline();
  });

  // ---------------------------------------------------------------- memtile occupancy
  const occ = el("section", {id: "occupancy-section"}, main);
  el("h2", {}, occ, "Memtile occupancy");
  const occupancyNote = el("div", {class: "hint"}, occ);
  const occupancy = svgEl("svg", {id: "occupancy", role: "img"}, occ);

  function drawOccupancy() {
    const r = run(), W = width(), H = 150, top = 8, plotH = H - top - AXIS;
    clear(occupancy);
    const cap = r.memtile_capacity;
    const peak = Math.max(...r.layers.map(l => l.memtile_bytes), 1);
    const yMax = Math.max(cap, peak);
    const x = v => LEFT + v / r.total * (W - LEFT - RIGHT);
    const y = v => top + plotH - v / yMax * plotH;
    occupancyNote.textContent = `Bytes placed in the ${r.memtiles} memtiles while each layer ` +
      `runs (peak ${fmtBytes(peak)} of ${fmtBytes(cap)}, ${(100 * peak / cap).toFixed(0)} %).`;
    yAxis(occupancy, y, 0, yMax, LEFT, v => fmtBytes(v), W - RIGHT);
    r.layers.forEach((layer, i) => {
      const bar = svgEl("rect", {class: "occ", "data-index": i, x: x(layer.start),
                                 width: Math.max(0.5, x(layer.start + layer.total) - x(layer.start)),
                                 y: y(layer.memtile_bytes), height: y(0) - y(layer.memtile_bytes)},
                        occupancy);
      if (view.layer === i) bar.setAttribute("style", "fill: var(--LOADW)");
      withTooltip(bar, () => [layer.name, [["memtiles", fmtBytes(layer.memtile_bytes)],
        ["of capacity", `${(100 * layer.memtile_bytes / cap).toFixed(1)} %`],
        ["from", fmtUs(layer.start)], ["for", fmtUs(layer.total)]]]);
      bar.addEventListener("click", () => zoomToLayer(i));
    });
    svgEl("line", {class: "capacity", x1: LEFT, x2: W - RIGHT, y1: y(cap), y2: y(cap)}, occupancy);
    svgEl("text", {x: W - RIGHT - 4, y: y(cap) - 4, "text-anchor": "end"}, occupancy, "capacity");
    xAxis(occupancy, x, 0, r.total, top + plotH, fmtUs);
    occupancy.setAttribute("width", W);
    occupancy.setAttribute("height", H);
  }

  // ---------------------------------------------------------------- dense vs sparse
  function drawComparison() {
    if (runs.length < 2) return;
    const sec = el("section", {id: "compare-section"}, main);
    el("h2", {}, sec, `${runs.map(r => r.label).join(" vs ")}`);
    const base = runs[0];
    const rows = runs.map(r => ({r, c: componentsMs(r)}));
    sortableTable(sec, [
      {key: "label", label: "compilation", text: true, value: x => x.r.label},
      {key: "total", label: "total ms", value: x => x.r.total / 1000, show: x => (x.r.total / 1000).toFixed(3)},
      {key: "ddr", label: "DDR ms", value: x => x.c.ddr, show: x => x.c.ddr.toFixed(3)},
      {key: "mem", label: "memtile\u2194core ms", value: x => x.c.memtile, show: x => x.c.memtile.toFixed(3)},
      {key: "comp", label: "compute ms", value: x => x.c.compute, show: x => x.c.compute.toFixed(3)},
      {key: "macs", label: "MACs computed", value: x => x.r.layers.reduce((s, l) => s + l.macs_computed, 0),
       show: x => fmtCount(x.r.layers.reduce((s, l) => s + l.macs_computed, 0))},
      {key: "speed", label: `speed-up vs ${base.label}`, value: x => base.total / x.r.total,
       show: x => (base.total / x.r.total).toFixed(2) + "\u00d7"},
    ], rows);
    el("div", {class: "hint"}, sec, "Per layer (total time; hover for the speed-up):");
    legend(sec, runs.map((r, i) => [r.label, i === 0 ? "var(--ddr)" : "var(--LOADW)"]));
    const names = base.layers.map(l => l.name);
    const byName = runs.map(r => new Map(r.layers.map(l => [l.name, l])));
    const W = Math.max(width(), names.length * (runs.length * 5 + 3) + LEFT), H = 200, top = 8;
    const plotH = H - top - AXIS;
    const yMax = Math.max(...runs.flatMap(r => r.layers.map(l => l.total)), 1e-9);
    const svg = svgEl("svg", {id: "comparison", width: W, height: H}, el("div", {class: "scroll"}, sec));
    const y = v => top + plotH - v / yMax * plotH;
    yAxis(svg, y, 0, yMax, LEFT, fmtUs, W - RIGHT);
    const slot = (W - LEFT - RIGHT) / names.length, bw = Math.max(1, (slot - 2) / runs.length);
    names.forEach((name, i) => {
      runs.forEach((r, k) => {
        const layer = byName[k].get(name);
        if (!layer) return;
        const bar = svgEl("rect", {class: "cmp-bar", x: LEFT + i * slot + 1 + k * bw, width: bw,
                                   y: y(layer.total), height: y(0) - y(layer.total),
                                   fill: k === 0 ? "var(--ddr)" : "var(--LOADW)"}, svg);
        withTooltip(bar, () => {
          const ref = byName[0].get(name);
          return [`${name} \u00b7 ${r.label}`, [["total", fmtUs(layer.total)],
            ["MACs computed", fmtCount(layer.macs_computed)],
            [`speed-up vs ${base.label}`, (ref.total / layer.total).toFixed(2) + "\u00d7"]]];
        });
      });
    });
    svgEl("text", {x: LEFT, y: H - 6}, svg, `${names.length} layers in schedule order`);
  }

  // ---------------------------------------------------------------- layer table
  const lt = el("section", {id: "layers-section"}, main);
  el("h2", {}, lt, "Layers");
  const tableBox = el("div", {}, lt);

  function drawTable() {
    const r = run();
    clear(tableBox);
    const maxTotal = Math.max(...r.layers.map(l => l.total), 1e-12);
    const rows = r.layers.map((l, i) => ({...l, index: i}));
    const us = key => ({value: x => x[key], show: x => x[key].toFixed(2)});
    sortableTable(tableBox, [
      {key: "index", label: "#", value: x => x.index},
      {key: "name", label: "layer", text: true, value: x => x.name},
      {key: "op", label: "op", text: true, value: x => x.op},
      {key: "split", label: "split", text: true, value: x => x.split},
      {key: "macs", label: "MACs", value: x => x.macs, show: x => fmtCount(x.macs)},
      {key: "density", label: "density", value: x => x.macs ? x.macs_computed / x.macs : 1,
       show: x => (x.macs ? x.macs_computed / x.macs : 1).toFixed(3)},
      {key: "binds", label: "paced by", text: true, value: x => x.binds || ""},
      {key: "ddr", label: "DDR \u00b5s", ...us("ddr")},
      ...(r.layers.some(l => l.hidden_ddr) ? [
        {key: "hidden_ddr", label: "hidden DDR \u00b5s", ...us("hidden_ddr")}] : []),
      // each stage's own busy time (streamed stages overlap, so they can add to more
      // than the total), not the time attributed to the stage that paces a group
      ...["LOADWDM", "LOADFM", "COMP", "WRITEFM"].map(stage => ({
        key: `busy-${stage}`, label: `${stage} busy \u00b5s`,
        value: x => (x.busy || {})[stage] || 0,
        show: x => ((x.busy || {})[stage] || 0).toFixed(2)})),
      {key: "total", label: "total \u00b5s", ...us("total")},
      {key: "bound", label: "bound \u00b5s", ...us("bound")},
      {key: "efficiency", label: "bound/total", value: x => x.total ? x.bound / x.total : 0,
       show: x => (x.total ? x.bound / x.total : 0).toFixed(2)},
      {key: "share", label: "share of the network", value: x => x.total, show: x => {
        const span = document.createElement("span");
        span.className = "share";
        span.style.width = (120 * x.total / maxTotal).toFixed(1) + "px";
        span.title = `${(100 * x.total / r.total).toFixed(1)} %`;
        return span;
      }},
    ], rows, (row, tr) => {
      tableBox.querySelectorAll("tr.selected").forEach(x => x.classList.remove("selected"));
      tr.classList.add("selected");
      zoomToLayer(row.index);
    });
  }

  function drawAll() {
    hideTooltip();  // its bar is gone: a redraw removes it without a mouseleave
    drawTimeline();
    drawOccupancy();
  }

  drawAll();
  drawComparison();
  main.appendChild(lt);
  drawTable();
  window.addEventListener("resize", drawAll);
  done();
})();
