// Helpers shared by bsir's reports: DOM and SVG building, number formats, axes, the
// tooltip and sortable tables. No library: the report must open offline.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const DATA = JSON.parse(document.getElementById("bsir-data").textContent);
const T0 = performance.now();

function el(tag, attrs, parent, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function svgEl(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function fmtUs(us) {
  if (us === 0) return "0";
  if (us >= 1000) return (us / 1000).toFixed(3) + " ms";
  if (us >= 1) return us.toFixed(2) + " \u00b5s";
  return (us * 1000).toFixed(1) + " ns";
}
function fmtBytes(b) {
  if (b >= 1 << 20) return (b / (1 << 20)).toFixed(2) + " MiB";
  if (b >= 1 << 10) return (b / (1 << 10)).toFixed(1) + " KiB";
  return b + " B";
}
function fmtCount(n) { return Math.round(n).toLocaleString("en-US"); }

// Round tick values between lo and hi, about `count` of them.
function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

// A horizontal axis at y for x = scale(v), with labels and optional grid down to gridTo.
function xAxis(svg, scale, lo, hi, y, format, gridTo) {
  const g = svgEl("g", {class: "axis"}, svg);
  const grid = svgEl("g", {class: "grid"}, svg);
  for (const v of niceTicks(lo, hi, 8)) {
    const x = scale(v);
    svgEl("line", {x1: x, x2: x, y1: y, y2: y + 4}, g);
    svgEl("text", {x: x, y: y + 15, "text-anchor": "middle"}, g, format(v));
    if (gridTo !== undefined) svgEl("line", {x1: x, x2: x, y1: gridTo, y2: y}, grid);
  }
  return g;
}

function yAxis(svg, scale, lo, hi, x, format, gridTo) {
  const g = svgEl("g", {class: "axis"}, svg);
  const grid = svgEl("g", {class: "grid"}, svg);
  for (const v of niceTicks(lo, hi, 5)) {
    const y = scale(v);
    svgEl("line", {x1: x - 4, x2: x, y1: y, y2: y}, g);
    svgEl("text", {x: x - 6, y: y + 4, "text-anchor": "end"}, g, format(v));
    if (gridTo !== undefined) svgEl("line", {x1: x, x2: gridTo, y1: y, y2: y}, grid);
  }
  return g;
}

// The tooltip: `rows` is a title and [label, value] pairs.
const tooltip = document.getElementById("tooltip");
function showTooltip(event, title, rows) {
  clear(tooltip);
  el("b", {}, tooltip, title);
  const table = el("table", {}, tooltip);
  for (const [k, v] of rows) {
    const tr = el("tr", {}, table);
    el("td", {}, tr, k);
    el("td", {}, tr, v);
  }
  tooltip.hidden = false;
  moveTooltip(event);
}
function moveTooltip(event) {
  const pad = 14, w = tooltip.offsetWidth, h = tooltip.offsetHeight;
  let x = event.clientX + pad, y = event.clientY + pad;
  if (x + w > window.innerWidth) x = event.clientX - w - pad;
  if (y + h > window.innerHeight) y = event.clientY - h - pad;
  tooltip.style.left = Math.max(0, x) + "px";
  tooltip.style.top = Math.max(0, y) + "px";
}
function hideTooltip() { tooltip.hidden = true; }

// Attach the tooltip to an SVG or HTML node: `content()` gives [title, rows].
function withTooltip(node, content) {
  node.addEventListener("mouseenter", e => { const [t, r] = content(); showTooltip(e, t, r); });
  node.addEventListener("mousemove", moveTooltip);
  node.addEventListener("mouseleave", hideTooltip);
}

// A table sorted by clicking its headers. columns: {key, label, text?, value(row),
// show(row)}; onRow(row, tr) is called on a click on a row.
function sortableTable(parent, columns, rows, onRow) {
  const wrap = el("div", {class: "scroll"}, parent);
  const table = el("table", {}, wrap);
  const head = el("tr", {}, el("thead", {}, table));
  const body = el("tbody", {}, table);
  let sortKey = null, ascending = true;
  const ths = columns.map(c => {
    const th = el("th", {class: c.text ? "text" : "", scope: "col", "data-key": c.key}, head,
                  c.label);
    th.addEventListener("click", () => {
      ascending = sortKey === c.key ? !ascending : !!c.text;
      sortKey = c.key;
      draw();
    });
    return th;
  });
  function draw() {
    const col = columns.find(c => c.key === sortKey);
    const order = rows.slice();
    if (col) {
      order.sort((a, b) => {
        const x = col.value(a), y = col.value(b);
        const cmp = typeof x === "string" ? x.localeCompare(y) : x - y;
        return ascending ? cmp : -cmp;
      });
    }
    ths.forEach((th, i) => {
      if (columns[i].key === sortKey) th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    clear(body);
    for (const row of order) {
      const tr = el("tr", {}, body);
      for (const c of columns) {
        const td = el("td", {class: c.text ? "text" : ""}, tr);
        const shown = c.show ? c.show(row) : c.value(row);
        if (shown instanceof Node) td.appendChild(shown); else td.textContent = shown;
      }
      if (onRow) tr.addEventListener("click", () => onRow(row, tr));
    }
  }
  draw();
  return {table, body, redraw: draw};
}

function legend(parent, items) {
  const box = el("div", {class: "legend"}, parent);
  for (const [label, color] of items) el("span", {style: `--swatch: ${color}`}, box, label);
  return box;
}

// Mark the page drawn (tests and benchmarks wait for this).
function done() {
  window.bsirRenderMs = performance.now() - T0;
  document.body.dataset.ready = "1";
}
