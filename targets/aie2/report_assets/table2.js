// The Table 2 report: per model, ours beside the paper's on every grid, dense and sparse.
"use strict";
(function () {
  const cells = DATA.cells;
  const main = document.getElementById("main");
  const SERIES = [
    {key: "ours-dense", label: "bsir, dense", sparse: false, paper: false, color: "var(--ours)"},
    {key: "paper-dense", label: "paper, dense", sparse: false, paper: true, color: "var(--paper-fig)"},
    {key: "ours-sparse", label: "bsir, 8x8 blocks at 50 %", sparse: true, paper: false, color: "var(--ours-sparse)"},
    {key: "paper-sparse", label: "paper, 8x8 blocks at 50 %", sparse: true, paper: true, color: "var(--paper-sparse)"},
  ];
  const models = [...new Set(cells.map(c => c.model))];
  const grids = [...new Set(cells.map(c => c.grid[0]))].sort((a, b) => a - b);
  const find = (model, n, sparse) => cells.find(c => c.model === model && c.grid[0] === n &&
                                                    (c.sparsity > 0) === sparse);
  // the paper's cells time the convolutional part only: compare ours on the same part
  const ours = cell => cell.failed ? null : (cell.conv_s ?? cell.total_s);
  const valueOf = (cell, paper) => cell ? (paper ? cell.paper_s : ours(cell)) : null;

  const failedOurs = cells.filter(c => c.failed).length;
  const failedPaper = cells.filter(c => c.paper_s === null).length;
  document.getElementById("summary").textContent =
    `${cells.length} cells: bsir failed on ${failedOurs}, the paper on ${failedPaper}. ` +
    "Estimated time of one inference, convolutional part (the part the paper's cells " +
    "time), in ms (lower is better); hover a bar for its figures.";
  legend(main, SERIES.map(s => [s.label, s.color]));

  const W = Math.max(640, main.clientWidth), H = 260, LEFT = 64, RIGHT = 12, TOP = 12, AXIS = 34;
  for (const model of models) {
    const sec = el("section", {class: "model", "data-model": model}, main);
    el("h2", {}, sec, model);
    const values = grids.flatMap(n => SERIES.map(s => valueOf(find(model, n, s.sparse), s.paper)))
      .filter(v => v !== null && v !== undefined);
    const yMax = Math.max(...values, 1e-6) * 1e3 * 1.08;
    const plotH = H - TOP - AXIS;
    const y = v => TOP + plotH - v / yMax * plotH;
    const svg = svgEl("svg", {class: "table2-chart", width: W, height: H, role: "img"}, sec);
    yAxis(svg, y, 0, yMax, LEFT, v => v.toFixed(v < 10 ? 1 : 0), W - RIGHT);
    svgEl("text", {x: 4, y: TOP + 10}, svg, "ms");
    const slot = (W - LEFT - RIGHT) / grids.length, bw = (slot - 16) / SERIES.length;
    grids.forEach((n, i) => {
      const x0 = LEFT + i * slot + 8;
      svgEl("text", {x: x0 + (slot - 16) / 2, y: H - AXIS + 16, "text-anchor": "middle"}, svg,
            `${n}x${n}`);
      SERIES.forEach((s, k) => {
        const cell = find(model, n, s.sparse);
        if (!cell) return;
        const v = valueOf(cell, s.paper), x = x0 + k * bw;
        if (v === null || v === undefined) {
          svgEl("text", {class: "failed-mark", x: x + bw / 2, y: y(0) - 4, "text-anchor": "middle",
                         "data-series": s.key}, svg, "\u00d7");
          const hit = svgEl("rect", {x: x, y: y(0) - 16, width: bw, height: 16, fill: "transparent",
                                     class: "t2-failed"}, svg);
          withTooltip(hit, () => [`${model} ${n}x${n}, ${s.label}`,
            [["result", s.paper ? "failed in the paper" : `failed: ${cell.failed}`]]]);
          return;
        }
        const ms = v * 1e3;
        const bar = svgEl("rect", {class: "t2-bar", "data-series": s.key, x: x, width: bw - 1,
                                   y: y(ms), height: y(0) - y(ms), fill: s.color}, svg);
        withTooltip(bar, () => {
          const rows = [["time", `${ms.toFixed(3)} ms`]];
          const other = valueOf(cell, !s.paper);
          if (other) rows.push(["bsir / paper", (ours(cell) / cell.paper_s).toFixed(2)]);
          if (!s.paper && cell.paper_schedule_s) {
            rows.push(["paper's schedule, bsir's rules", `${(cell.paper_schedule_s * 1e3).toFixed(2)} ms`]);
          }
          if (!s.paper) rows.push(["whole network", `${(cell.total_s * 1e3).toFixed(3)} ms`]);
          if (!s.paper && s.sparse) {
            const dense = valueOf(find(model, n, false), false);
            if (dense) rows.push(["sparse speed-up", (dense / v).toFixed(2) + "\u00d7"]);
          }
          return [`${model} ${n}x${n}, ${s.label}`, rows];
        });
      });
    });
  }

  const sec = el("section", {id: "cells"}, main);
  el("h2", {}, sec, "Cells");
  const ms = v => (v === null || v === undefined) ? "failed" : (v * 1e3).toFixed(3);
  const rows = models.flatMap(m => grids.map(n => ({m, n, d: find(m, n, false), s: find(m, n, true)})))
    .filter(r => r.d && r.s);
  const num = v => (v === null || v === undefined) ? Infinity : v;
  sortableTable(sec, [
    {key: "model", label: "model", text: true, value: r => r.m},
    {key: "grid", label: "AIE2", value: r => r.n, show: r => `${r.n}x${r.n}`},
    {key: "dense", label: "dense conv ms", value: r => num(valueOf(r.d, false)), show: r => ms(valueOf(r.d, false))},
    {key: "pdense", label: "paper", value: r => num(r.d.paper_s), show: r => ms(r.d.paper_s)},
    {key: "sparse", label: "sparse conv ms", value: r => num(valueOf(r.s, false)), show: r => ms(valueOf(r.s, false))},
    {key: "psparse", label: "paper", value: r => num(r.s.paper_s), show: r => ms(r.s.paper_s)},
    {key: "speed", label: "speed-up", value: r => (r.d.total_s || 0) / (r.s.total_s || Infinity),
     show: r => r.d.total_s && r.s.total_s ? (r.d.total_s / r.s.total_s).toFixed(2) + "\u00d7" : "-"},
  ], rows);
  done();
})();
