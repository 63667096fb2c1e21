// A hand-drawn SVG line chart: calls per minute, one line per service center. Colours come from CSS classes
// (series-0 … series-7), so the chart needs no inline style.

import { h, svg } from "./dom.js";

const PALETTE = 8;

/** @typedef {{name: string, label?: string, values: number[]}} Series  one line: a count per minute */

/** A step of 1, 2 or 5 times a power of ten, so that about ``ticks`` steps reach ``max``. */
function niceStep(/** @type {number} */ max, /** @type {number} */ ticks) {
  const raw = Math.max(max, 1) / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  return Math.max(1, step);
}

function hhmm(/** @type {number} */ ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/**
 * @param {{minutes?: number[], series?: Series[]}} data  the minutes (ms since the epoch) and a line per series
 * @param {{title?: string, empty?: string, unit?: string, testid?: string}} [opts]  empty: the text when there is
 *   nothing to draw; unit: e.g. "calls/min"
 * @returns {HTMLElement} a figure: the SVG and its legend
 */
export function lineChart(data, opts = {}) {
  const width = 760;
  const height = 260;
  const pad = { left: 48, right: 16, top: 14, bottom: 30 };
  const minutes = data.minutes || [];
  const series = data.series || [];
  const figure = h("figure", { class: "chart", testid: opts.testid || null });
  const max = Math.max(0, ...series.flatMap((s) => s.values.map((v) => Number(v) || 0)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart-svg",
    role: "img",
    "aria-label": opts.title || "",
    preserveAspectRatio: "xMidYMid meet",
  });
  if (opts.title) root.append(svg("title", null, opts.title));
  figure.append(root);
  if (!minutes.length || !series.length) {
    root.append(
      svg("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" }, opts.empty || ""),
    );
    return figure;
  }
  const step = niceStep(max, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (/** @type {number} */ i) => pad.left + (minutes.length === 1 ? plotW / 2 : (i * plotW) / (minutes.length - 1));
  const y = (/** @type {number} */ v) => pad.top + plotH - (v / top) * plotH;
  // grid and y axis
  for (let v = 0; v <= top; v += step) {
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "chart-grid" }));
    root.append(svg("text", { x: pad.left - 6, y: y(v) + 4, class: "chart-tick", "text-anchor": "end" }, String(v)));
  }
  // x axis: about six time labels
  const every = Math.max(1, Math.ceil(minutes.length / 6));
  minutes.forEach((ms, i) => {
    if (i % every !== 0 && i !== minutes.length - 1) return;
    root.append(svg("line", { x1: x(i), x2: x(i), y1: pad.top + plotH, y2: pad.top + plotH + 4, class: "chart-axis" }));
    root.append(svg("text", { x: x(i), y: height - 8, class: "chart-tick", "text-anchor": "middle" }, hhmm(ms)));
  });
  root.append(
    svg("line", { x1: pad.left, x2: width - pad.right, y1: pad.top + plotH, y2: pad.top + plotH, class: "chart-axis" }),
  );
  // one line per series, a dot with a tooltip per minute
  series.forEach((s, k) => {
    const cls = `series-${k % PALETTE}`;
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(Number(v) || 0).toFixed(1)}`).join(" ");
    const group = svg("g", { class: `chart-series ${cls}` });
    group.append(svg("polyline", { points, class: "chart-line" }));
    s.values.forEach((v, i) => {
      const dot = svg("circle", { cx: x(i).toFixed(1), cy: y(Number(v) || 0).toFixed(1), r: 2.5, class: "chart-dot" });
      dot.append(
        svg(
          "title",
          null,
          `${s.label || s.name} ${hhmm(minutes[i])}: ${Number(v) || 0}${opts.unit ? ` ${opts.unit}` : ""}`,
        ),
      );
      group.append(dot);
    });
    root.append(group);
  });
  const legend = h("ul", { class: "chart-legend" });
  series.forEach((s, k) => {
    const total = s.values.reduce((a, v) => a + (Number(v) || 0), 0);
    legend.append(
      h("li", { class: `series-${k % PALETTE}` }, h("span", { class: "swatch" }), `${s.label || s.name} (${total})`),
    );
  });
  figure.append(legend);
  return figure;
}
