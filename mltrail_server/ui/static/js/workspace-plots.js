// The workspace's per-run plots, from the runs the search returned (no further request): a
// scatter of one param or metric against another, and parallel coordinates over chosen params
// to a metric. A field is "param:<key>" or "metric:<key>" (a metric's latest value).

import { metricNumber } from "./api.js";
import { escapeHtml, formatValue } from "./format.js";

const PAD = 40;

/** The raw value of `field` for `run`: a param's text, a metric's latest number; or null. */
export function fieldValue(run, field) {
  const at = field.indexOf(":");
  const [kind, key] = [field.slice(0, at), field.slice(at + 1)];
  if (kind === "param") return run.params?.[key] ?? null;
  const value = metricNumber(run.metrics?.[key]?.value);
  return value === null || !Number.isFinite(value) ? null : value;
}

function asNumber(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  if (value.trim() === "") return null;
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

/** Whether every run that has `field` has a number there (metrics always do). */
export function isNumeric(runs, field) {
  return runs.every((run) => {
    const value = fieldValue(run, field);
    return value === null || asNumber(value) !== null;
  });
}

function fieldLabel(field) {
  const at = field.indexOf(":");
  return `${field.slice(0, at)} ${field.slice(at + 1)}`;
}

function scale(lo, hi, from, to) {
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  return (v) => from + ((v - lo) / (hi - lo)) * (to - from);
}

/** A colour from blue (low) to red (high) for t in [0, 1]. */
export function rampColor(t) {
  return `hsl(${Math.round(230 - 230 * t)}, 70%, 48%)`;
}

/** The scatter's HTML: one dot per run that has both values; the others counted. */
export function scatterPlot(runs, xField, yField) {
  const W = 420;
  const H = 300;
  const points = [];
  for (const run of runs) {
    const x = asNumber(fieldValue(run, xField));
    const y = asNumber(fieldValue(run, yField));
    if (x !== null && y !== null) points.push({ run, x, y });
  }
  const leftOut = runs.length - points.length;
  const note = `<p class="subtle" data-role="left-out" data-count="${leftOut}">${
    leftOut ? `${leftOut} run${leftOut === 1 ? "" : "s"} without both values left out` : "Every run has both values"
  }</p>`;
  if (!points.length) return `<p class="subtle">No run has both values.</p>${note}`;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = scale(x0, x1, PAD, W - PAD);
  const sy = scale(y0, y1, H - PAD, PAD);
  const dots = points
    .map(
      (p) =>
        `<circle class="dot" r="4" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" fill="#4f6bed" fill-opacity="0.75" data-run="${escapeHtml(p.run.id)}" data-x="${p.x}" data-y="${p.y}"><title>${escapeHtml(p.run.name || p.run.id)} · x ${formatValue(p.x)}, y ${formatValue(p.y)}</title></circle>`,
    )
    .join("");
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Scatter of ${escapeHtml(fieldLabel(yField))} against ${escapeHtml(fieldLabel(xField))}">
      <line x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}" stroke="currentColor" stroke-opacity="0.3"/>
      <line x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${H - PAD}" stroke="currentColor" stroke-opacity="0.3"/>
      <text x="${PAD}" y="${H - PAD + 14}" font-size="10">${formatValue(x0)}</text>
      <text x="${W - PAD}" y="${H - PAD + 14}" font-size="10" text-anchor="end">${formatValue(x1)}</text>
      <text x="${W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${escapeHtml(fieldLabel(xField))}</text>
      <text x="${PAD - 4}" y="${H - PAD}" font-size="10" text-anchor="end">${formatValue(y0)}</text>
      <text x="${PAD - 4}" y="${PAD + 4}" font-size="10" text-anchor="end">${formatValue(y1)}</text>
      <text x="${PAD}" y="${PAD - 12}" font-size="11">${escapeHtml(fieldLabel(yField))}</text>${dots}</svg>${note}`;
}

/** An axis: where a run's value of `field` sits, from 0 (bottom) to 1 (top). */
function axisOf(runs, field) {
  const values = runs.map((run) => fieldValue(run, field));
  if (isNumeric(runs, field)) {
    const numbers = values.map(asNumber);
    const [lo, hi] = [Math.min(...numbers), Math.max(...numbers)];
    const at = scale(lo, hi, 0, 1);
    return { field, position: (run) => at(asNumber(fieldValue(run, field))), ticks: [[0, formatValue(lo)], [1, formatValue(hi)]] };
  }
  // Categories evenly spaced, in sorted order.
  const categories = [...new Set(values.map(String))].sort();
  const at = (c) => (categories.length === 1 ? 0.5 : categories.indexOf(c) / (categories.length - 1));
  return {
    field,
    categorical: true,
    position: (run) => at(String(fieldValue(run, field))),
    ticks: categories.map((c) => [at(c), c]),
  };
}

/** Parallel coordinates: an axis per chosen param and the metric last, a polyline per run. */
export function parallelPlot(runs, params, metric) {
  const W = 840;
  const H = 300;
  const fields = [...params.map((key) => `param:${key}`), `metric:${metric}`];
  const complete = runs.filter((run) => fields.every((field) => fieldValue(run, field) !== null));
  const leftOut = runs.length - complete.length;
  const note = `<p class="subtle" data-role="left-out" data-count="${leftOut}">${
    leftOut ? `${leftOut} run${leftOut === 1 ? "" : "s"} without every value left out` : "Every run has every value"
  } · colour by ${escapeHtml(metric)}: <span class="ramp-low">low</span> to <span class="ramp-high">high</span></p>`;
  if (!params.length || !complete.length) return `<p class="subtle">Choose params that runs have.</p>${note}`;
  const axes = fields.map((field) => axisOf(complete, field));
  const ax = (i) => PAD + (i / Math.max(axes.length - 1, 1)) * (W - 2 * PAD);
  const ay = (t) => H - PAD - t * (H - 2 * PAD);
  const metricAxis = axes[axes.length - 1];
  const lines = complete
    .map((run) => {
      const d = axes.map((axis, i) => `${i ? "L" : "M"}${ax(i).toFixed(1)},${ay(axis.position(run)).toFixed(1)}`).join("");
      const color = rampColor(metricAxis.position(run));
      return `<path class="pc-line" fill="none" stroke="${color}" stroke-width="1.5" stroke-opacity="0.8" data-run="${escapeHtml(run.id)}" d="${d}"><title>${escapeHtml(run.name || run.id)} · ${escapeHtml(metric)} ${formatValue(fieldValue(run, metricAxis.field))}</title></path>`;
    })
    .join("");
  const axisSvg = axes
    .map((axis, i) => {
      const x = ax(i).toFixed(1);
      const ticks = axis.ticks
        .map(([t, label]) => `<text x="${x}" y="${(ay(t) + 3).toFixed(1)}" dx="4" font-size="10">${escapeHtml(label)}</text>`)
        .join("");
      return `<g class="axis" data-axis="${escapeHtml(axis.field)}"${axis.categorical ? ' data-categorical="true"' : ""}>
        <line x1="${x}" y1="${PAD}" x2="${x}" y2="${H - PAD}" stroke="currentColor" stroke-opacity="0.5"/>
        <text x="${x}" y="${PAD - 12}" font-size="11" text-anchor="middle">${escapeHtml(fieldLabel(axis.field))}</text>${ticks}</g>`;
    })
    .join("");
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Parallel coordinates">${lines}${axisSvg}</svg>${note}`;
}
