// The sweep report: per model, time against cores and against the weights kept (each
// with its Pareto front), the sparse speed-up per grid, and the front's configurations.
"use strict";
(function () {
  const main = document.getElementById("main");
  const models = DATA.models;
  const points = models.reduce((n, m) => n + m.points.length, 0);
  document.getElementById("summary").textContent =
    `${DATA.rows} configurations, ${DATA.failed} do not fit, ${points} drawn. ` +
    "Estimated time of one inference in ms (lower is better); a red step joins the " +
    "Pareto front (no configuration is both cheaper and faster); colour: sparsity. " +
    "Hover a point for its configuration.";
  legend(main, [["dense", "var(--ours)"], ["sparse", "var(--ours-sparse)"],
                ["Pareto front", "var(--WRITE)"]]);
  const W = Math.max(420, Math.floor((main.clientWidth - 40) / 3)), H = 260;
  const LEFT = 56, RIGHT = 12, TOP = 12, AXIS = 34;
  const colour = p => p.sparsity > 0 ? "var(--ours-sparse)" : "var(--ours)";
  const describe = p => [p.model + " on " + p.hardware, [
    ["time", fmtUs(p.total_s * 1e6)], ["cores", String(p.cores)],
    ["memtiles", p.memtiles], ["sparsity", (p.sparsity_auto ? "auto " : "") + p.sparsity],
    ["weights kept", p.density === null ? "-" : (p.density * 100).toFixed(1) + " %"],
    ["block", p.block], ["criterion", p.criterion], ["cost model", p.cost_model],
    ["overrides", p.overrides || "-"],
    ["bound / time", p.bound_s ? (p.bound_s / p.total_s).toFixed(2) : "-"]]];

  // a front steps after each point where lower x is better, before it where higher is
  function scatter(parent, title, pts, xOf, yOf, xLabel, yLabel, frontKey, kind, higherBetter) {
    const box = el("div", {class: "sweep-plot", "data-plot": kind}, parent);
    el("h3", {}, box, title);
    const svg = svgEl("svg", {width: W, height: H, role: "img"}, box);
    const xs = pts.map(xOf), ys = pts.map(yOf);
    const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1e-9) * 1.05;
    const y1 = Math.max(...ys, 1e-9) * 1.08;
    const x = v => LEFT + (v - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    const y = v => TOP + (H - TOP - AXIS) * (1 - v / y1);
    xAxis(svg, x, x0, x1, H - AXIS, v => String(+v.toFixed(2)), TOP);
    yAxis(svg, y, 0, y1, LEFT, v => String(+v.toFixed(3)), W - RIGHT);
    svgEl("text", {x: W - RIGHT, y: H - 4, "text-anchor": "end"}, svg, xLabel);
    svgEl("text", {x: 4, y: TOP + 10}, svg, yLabel);
    if (frontKey) {
      const front = pts.filter(p => p[frontKey]).sort((a, b) => xOf(a) - xOf(b));
      let d = "";
      front.forEach((p, i) => {
        const [px, py] = [x(xOf(p)), y(yOf(p))];
        d += !i ? `M${px},${py}` : higherBetter ? `V${py}H${px}` : `H${px}V${py}`;
      });
      if (d) svgEl("path", {d, class: "front", fill: "none", stroke: "var(--WRITE)",
                            "stroke-width": 1.5}, svg);
    }
    for (const p of pts) {
      const dot = svgEl("circle", {cx: x(xOf(p)), cy: y(yOf(p)), r: frontKey && p[frontKey] ? 4 : 2.5,
                                   class: "point" + (frontKey && p[frontKey] ? " on-front" : ""),
                                   fill: colour(p), "data-key": p.key}, svg);
      withTooltip(dot, () => describe(p));
    }
  }

  for (const entry of models) {
    const sec = el("section", {class: "model", "data-model": entry.model}, main);
    el("h2", {}, sec, entry.model);
    const row = el("div", {class: "toolbar"}, sec);
    const ms = p => p.total_s * 1e3;
    scatter(row, "time against cores", entry.points, p => p.cores, ms, "cores", "ms",
            "front_cores", "cores");
    scatter(row, "time against the weights kept", entry.points, p => p.density ?? 1, ms,
            "fraction of weights kept", "ms", "front_density", "density", true);
    const sparse = entry.points.filter(p => p.speedup !== null);
    if (sparse.length) {
      scatter(row, "sparse speed-up per grid (dense / sparse)", sparse, p => p.cores,
              p => p.speedup, "cores", "x", null, "speedup");
    }
    el("h3", {}, sec, "on a front");
    const front = entry.points.filter(p => p.front_cores || p.front_density);
    sortableTable(sec, [
      {key: "hardware", label: "array", text: true, value: p => p.hardware},
      {key: "cores", label: "cores", value: p => p.cores},
      {key: "sparsity", label: "sparsity", value: p => p.sparsity},
      {key: "density", label: "weights kept", value: p => p.density ?? 1,
       show: p => ((p.density ?? 1) * 100).toFixed(1) + " %"},
      {key: "memtiles", label: "memtiles", text: true, value: p => p.memtiles},
      {key: "total_s", label: "ms", value: p => p.total_s, show: p => (p.total_s * 1e3).toFixed(3)},
      {key: "front", label: "front", text: true,
       value: p => [p.front_cores ? "cores" : "", p.front_density ? "weights" : ""]
         .filter(Boolean).join(", ")},
    ], front);
  }
  done();
})();
