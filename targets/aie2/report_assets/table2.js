// The Table 2 report: per model, ours beside the paper's on every grid, dense and sparse.
"use strict";
(function () {
  const cells = DATA.cells;
  const main = document.getElementById("main");
  // per sparsity: bsir under its own rules, bsir under the paper's estimator, the paper
  const SERIES = [
    {key: "ours-dense", label: "bsir, dense", sparse: false, kind: "ours", color: "var(--ours)"},
    {key: "rules-dense", label: "bsir by the paper's estimator, dense", sparse: false, kind: "rules",
     color: "var(--rules)"},
    {key: "paper-dense", label: "paper, dense", sparse: false, kind: "paper", color: "var(--paper-fig)"},
    {key: "ours-sparse", label: "bsir, 8x8 blocks at 50 %", sparse: true, kind: "ours",
     color: "var(--ours-sparse)"},
    {key: "rules-sparse", label: "bsir by the paper's estimator, sparse", sparse: true,
     kind: "rules", color: "var(--rules-sparse)"},
    {key: "paper-sparse", label: "paper, 8x8 blocks at 50 %", sparse: true, kind: "paper",
     color: "var(--paper-sparse)"},
  ];
  const modelOf = c => c.cost_model || "honest";
  const honest = cells.filter(c => modelOf(c) === "honest");
  const models = [...new Set(honest.map(c => c.model))];
  const grids = [...new Set(honest.map(c => c.grid[0]))].sort((a, b) => a - b);
  const find = (model, n, sparse, cost = "honest") => cells.find(c => c.model === model &&
    c.grid[0] === n && (c.sparsity > 0) === sparse && modelOf(c) === cost);
  // the paper's cells time the convolutional part only: compare ours on the same part
  const ours = cell => cell.failed ? null : (cell.conv_s ?? cell.total_s);
  const cellOf = (model, n, s) => find(model, n, s.sparse, s.kind === "rules" ? "paper" : "honest");
  const valueOf = (cell, kind) => cell ? (kind === "paper" ? cell.paper_s : ours(cell)) : null;

  const failedOurs = cells.filter(c => c.failed).length;
  const failedPaper = honest.filter(c => c.paper_s === null).length;
  document.getElementById("summary").textContent =
    `${honest.length} cells: bsir failed on ${failedOurs}, the paper on ${failedPaper}. ` +
    "Estimated time of one inference, convolutional part (the part the paper's cells " +
    "time), in ms (lower is better): bsir under its own rules, bsir under the paper's " +
    "estimator (like for like with the paper's figure), the paper; hover a bar for its figures.";
  legend(main, SERIES.map(s => [s.label, s.color]));

  const W = Math.max(640, main.clientWidth), H = 260, LEFT = 64, RIGHT = 12, TOP = 12, AXIS = 34;
  for (const model of models) {
    const sec = el("section", {class: "model", "data-model": model}, main);
    el("h2", {}, sec, model);
    const values = grids.flatMap(n => SERIES.map(s => valueOf(cellOf(model, n, s), s.kind)))
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
        const cell = cellOf(model, n, s);
        if (!cell) return;
        const v = valueOf(cell, s.kind), x = x0 + k * bw;
        if (v === null || v === undefined) {
          svgEl("text", {class: "failed-mark", x: x + bw / 2, y: y(0) - 4, "text-anchor": "middle",
                         "data-series": s.key}, svg, "\u00d7");
          const hit = svgEl("rect", {x: x, y: y(0) - 16, width: bw, height: 16, fill: "transparent",
                                     class: "t2-failed"}, svg);
          withTooltip(hit, () => [`${model} ${n}x${n}, ${s.label}`,
            [["result", s.kind === "paper" ? "failed in the paper" : `failed: ${cell.failed}`]]]);
          return;
        }
        const ms = v * 1e3;
        const bar = svgEl("rect", {class: "t2-bar", "data-series": s.key, x: x, width: bw - 1,
                                   y: y(ms), height: y(0) - y(ms), fill: s.color}, svg);
        withTooltip(bar, () => {
          const rows = [["time", `${ms.toFixed(3)} ms`]];
          if (s.kind === "rules" && cell.paper_s) {
            rows.push(["bsir / paper, same estimator", (v / cell.paper_s).toFixed(2)]);
          }
          if (s.kind === "ours" && cell.paper_schedule_s) {
            rows.push(["paper's schedule, bsir's rules", `${(cell.paper_schedule_s * 1e3).toFixed(2)} ms`]);
            rows.push(["bsir / paper's schedule", (v / cell.paper_schedule_s).toFixed(2)]);
          }
          if (s.kind !== "paper") rows.push(["whole network", `${(cell.total_s * 1e3).toFixed(3)} ms`]);
          if (s.kind === "ours" && s.sparse) {
            const dense = valueOf(find(model, n, false), "ours");
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
  const rows = models.flatMap(m => grids.map(n => ({m, n, d: find(m, n, false), s: find(m, n, true),
    rd: find(m, n, false, "paper"), rs: find(m, n, true, "paper")}))).filter(r => r.d && r.s);
  const num = v => (v === null || v === undefined) ? Infinity : v;
  const col = (key, label, pick, kind) => ({key, label, value: r => num(valueOf(pick(r), kind)),
                                            show: r => ms(valueOf(pick(r), kind))});
  sortableTable(sec, [
    {key: "model", label: "model", text: true, value: r => r.m},
    {key: "grid", label: "AIE2", value: r => r.n, show: r => `${r.n}x${r.n}`},
    col("dense", "dense conv ms", r => r.d, "ours"),
    col("rdense", "by paper's rules", r => r.rd, "rules"),
    col("pdense", "paper", r => r.d, "paper"),
    col("sparse", "sparse conv ms", r => r.s, "ours"),
    col("rsparse", "by paper's rules", r => r.rs, "rules"),
    col("psparse", "paper", r => r.s, "paper"),
    {key: "speed", label: "speed-up", value: r => (r.d.total_s || 0) / (r.s.total_s || Infinity),
     show: r => r.d.total_s && r.s.total_s ? (r.d.total_s / r.s.total_s).toFixed(2) + "\u00d7" : "-"},
  ], rows);
  done();
})();
