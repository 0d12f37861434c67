// A histogram logged over steps, drawn as a heat map: one column per step, the value range
// from bottom to top, each cell's colour the share of that step's counts in that value band
// (each step scaled to its own largest band, so a narrowing distribution stays visible).

import { el } from "./dom.js";
import { formatInteger, formatValue } from "./format.js";

const ROWS = 48;
const HEIGHT = 180;
// From the page's background to a saturated end (light and dark themes alike).
const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function colour(share) {
  const at = Math.min(1, Math.max(0, share)) * (STOPS.length - 1);
  const low = Math.floor(at);
  const high = Math.min(STOPS.length - 1, low + 1);
  const mix = at - low;
  const [r, g, b] = STOPS[low].map((c, i) => Math.round(c + (STOPS[high][i] - c) * mix));
  return `rgb(${r}, ${g}, ${b})`;
}

/** Each histogram's counts spread over ROWS equal bands of [low, high], by overlap. */
export function regrid(histograms) {
  let low = Infinity;
  let high = -Infinity;
  for (const h of histograms) {
    low = Math.min(low, h.edges[0]);
    high = Math.max(high, h.edges[h.edges.length - 1]);
  }
  if (!(high > low)) {
    low -= 0.5;
    high += 0.5;
  }
  const band = (high - low) / ROWS;
  const columns = histograms.map((h) => {
    const cells = new Float64Array(ROWS);
    for (let i = 0; i < h.counts.length; i += 1) {
      const from = h.edges[i];
      const to = h.edges[i + 1];
      const width = to - from;
      const first = Math.max(0, Math.floor((from - low) / band));
      const last = Math.min(ROWS - 1, Math.floor((to - low) / band - 1e-9));
      for (let row = first; row <= last; row += 1) {
        const overlap = Math.min(to, low + (row + 1) * band) - Math.max(from, low + row * band);
        cells[row] += width > 0 ? (h.counts[i] * Math.max(0, overlap)) / width : h.counts[i];
      }
    }
    return cells;
  });
  return { low, high, band, columns };
}

/** A figure of `histograms` (each `{ step, edges, counts }`, ordered by step). */
export function histogramHeatmap(histograms) {
  const grid = regrid(histograms);
  const canvas = el("canvas", { class: "heatmap", height: HEIGHT, "data-role": "heatmap" });
  const readout = el("div", { class: "heatmap-readout muted", "data-role": "heatmap-readout" }, "Each step scaled to its fullest band; hover for counts");
  const figure = el(
    "div",
    { class: "heatmap-figure" },
    el(
      "div",
      { class: "heatmap-y muted" },
      el("span", { "data-role": "value-high" }, formatValue(grid.high)),
      el("span", { "data-role": "value-low" }, formatValue(grid.low)),
    ),
    canvas,
    el(
      "div",
      { class: "heatmap-x muted" },
      el("span", { "data-role": "step-first" }, `step ${formatInteger(histograms[0].step)}`),
      el("span", {}, "step →"),
      el("span", { "data-role": "step-last" }, `step ${formatInteger(histograms.at(-1).step)}`),
    ),
    readout,
  );

  function draw() {
    // In device pixels, each cell on whole pixels: no seams between cells.
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(Math.max(120, canvas.clientWidth || 600) * ratio);
    const height = Math.round(HEIGHT * ratio);
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    const columns = grid.columns.length;
    grid.columns.forEach((cells, column) => {
      const most = Math.max(...cells) || 1;
      const left = Math.floor((column * width) / columns);
      const right = Math.floor(((column + 1) * width) / columns);
      for (let row = 0; row < ROWS; row += 1) {
        // Row 0 holds the lowest values: drawn at the bottom.
        const top = height - Math.floor(((row + 1) * height) / ROWS);
        const bottom = height - Math.floor((row * height) / ROWS);
        context.fillStyle = colour(cells[row] / most);
        context.fillRect(left, top, right - left, bottom - top);
      }
    });
  }

  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const column = Math.min(
      grid.columns.length - 1,
      Math.floor(((event.clientX - box.left) / box.width) * grid.columns.length),
    );
    const row = Math.min(ROWS - 1, Math.floor(((box.bottom - event.clientY) / box.height) * ROWS));
    if (column < 0 || row < 0) return;
    const from = grid.low + row * grid.band;
    const count = grid.columns[column][row];
    readout.textContent = `step ${formatInteger(histograms[column].step)} · ${formatValue(from)} to ${formatValue(from + grid.band)} · count ${formatInteger(Math.round(count))}`;
  });
  new ResizeObserver(draw).observe(canvas);
  return figure;
}
