// The experiment workspace: one chart per metric over the experiment's runs (those the current
// filter returns), fetched through the server's multi-run downsample (POST /metrics/history),
// one line per run, or, grouped by a param or tag, one mean line per group with a min–max band.
// Charts are small SVGs; each point carries its step and value (hover shows them).

import { api, metricNumber } from "./api.js";
import { applyStyles, colorAt, escapeHtml, formatValue } from "./format.js";
import { aggregateByStep, defaultGrouping, groupRuns } from "./run-groups.js";

const root = document.getElementById("experiment-page");
const experimentId = root.dataset.experimentId;
const section = document.getElementById("workspace");
const toggle = document.getElementById("workspace-toggle");
const W = 420;
const H = 200;
const PAD = 32;
const MAX_RUNS = 100;
const POINTS = 300;

let runs = [];

async function loadRuns() {
  const filter = document.getElementById("filter").value.trim();
  const result = await api("/runs/search", {
    method: "POST",
    body: { experiment_ids: [experimentId], filter, max_results: MAX_RUNS, order_by: [] },
  });
  return result.runs;
}

function groupChoices() {
  const params = new Set();
  const tags = new Set();
  for (const run of runs) {
    Object.keys(run.params || {}).forEach((k) => params.add(k));
    Object.keys(run.tags || {}).forEach((k) => tags.add(k));
  }
  const option = (kind, key) => `<option value="${kind}:${escapeHtml(key)}">${kind} ${escapeHtml(key)}</option>`;
  return (
    '<option value="">No grouping (one line per run)</option>' +
    [...params].sort().map((k) => option("param", k)).join("") +
    [...tags].sort().map((k) => option("tag", k)).join("")
  );
}

function parseGrouping(value) {
  if (!value) return null;
  const at = value.indexOf(":");
  return { kind: value.slice(0, at), key: value.slice(at + 1) };
}

async function history(key) {
  const result = await api("/metrics/history", {
    method: "POST",
    body: { run_ids: runs.map((r) => r.id), key, points: POINTS, start_step: null, end_step: null },
  });
  const byRun = new Map();
  for (const item of result.series) {
    byRun.set(
      item.run_id,
      item.points.map((p) => ({ step: p.step, value: metricNumber(p.value) })),
    );
  }
  return byRun;
}

/** Lines to draw: [{name, color, points: [{step, value, min?, max?}]}]. */
function linesFor(byRun, grouping) {
  if (!grouping) {
    return runs.map((run, i) => ({
      name: run.name || run.id,
      color: colorAt(i),
      points: (byRun.get(run.id) || []).filter((p) => p.value !== null && Number.isFinite(p.value)),
    }));
  }
  return [...groupRuns(runs, grouping)].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([name, ids], i) => ({
    name,
    color: colorAt(i),
    band: true,
    points: aggregateByStep(ids.map((id) => byRun.get(id) || [])).map((p) => ({
      step: p.step,
      value: p.mean,
      min: p.min,
      max: p.max,
    })),
  }));
}

function svgChart(key, lines) {
  const all = lines.flatMap((l) => l.points);
  if (!all.length) return "";
  const steps = all.map((p) => p.step);
  const ys = all.flatMap((p) => [p.value, p.min ?? p.value, p.max ?? p.value]);
  let [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (s) => PAD + ((s - x0) / (x1 - x0)) * (W - 2 * PAD);
  const sy = (v) => H - PAD + -((v - y0) / (y1 - y0)) * (H - 2 * PAD);
  const body = lines
    .map((line) => {
      const pts = line.points;
      const path = pts.map((p, i) => `${i ? "L" : "M"}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join("");
      const band = line.band
        ? `<path class="band" fill="${line.color}" fill-opacity="0.18" stroke="none" d="${
            pts.map((p, i) => `${i ? "L" : "M"}${sx(p.step).toFixed(1)},${sy(p.max).toFixed(1)}`).join("") +
            [...pts].reverse().map((p) => `L${sx(p.step).toFixed(1)},${sy(p.min).toFixed(1)}`).join("")
          }Z"/>`
        : "";
      const dots = pts
        .map(
          (p) =>
            `<circle class="point" r="3" cx="${sx(p.step).toFixed(1)}" cy="${sy(p.value).toFixed(1)}" fill="${line.color}" data-step="${p.step}" data-value="${p.value}"><title>${escapeHtml(line.name)} · step ${p.step}: ${formatValue(p.value)}${line.band ? ` (min ${formatValue(p.min)}, max ${formatValue(p.max)})` : ""}</title></circle>`,
        )
        .join("");
      return `<g class="series" data-series="${escapeHtml(line.name)}">${band}<path class="line" fill="none" stroke="${line.color}" stroke-width="1.5" d="${path}"/>${dots}</g>`;
    })
    .join("");
  const legend = lines
    .map((l) => `<span class="legend-entry" data-series="${escapeHtml(l.name)}"><span class="swatch" data-color="${l.color}"></span>${escapeHtml(l.name)}</span>`)
    .join(" ");
  return `<div class="card workspace-chart" data-metric="${escapeHtml(key)}">
    <h3>${escapeHtml(key)}</h3>
    <svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(key)}">
      <text x="${PAD}" y="${PAD - 8}" font-size="10">${formatValue(y1)}</text>
      <text x="${PAD}" y="${H - 8}" font-size="10">${formatValue(y0)} · step ${x0}–${x1}</text>${body}</svg>
    <div class="legend">${legend}</div></div>`;
}

async function render() {
  const charts = section.querySelector("[data-role=charts]");
  const grouping = parseGrouping(section.querySelector("[data-role=group-by]").value);
  const keys = [...new Set(runs.flatMap((run) => Object.keys(run.metrics || {})))].sort();
  if (!runs.length || !keys.length) {
    charts.innerHTML = '<p class="subtle">No metrics to chart.</p>';
    section.dataset.ready = "true";
    return;
  }
  const histories = await Promise.all(keys.map((key) => history(key)));
  charts.innerHTML = keys.map((key, i) => svgChart(key, linesFor(histories[i], grouping))).join("");
  applyStyles(charts);
  section.dataset.ready = "true";
}

async function open() {
  section.hidden = false;
  section.dataset.ready = "false";
  runs = await loadRuns();
  const select = section.querySelector("[data-role=group-by]");
  select.innerHTML = groupChoices();
  const preset = defaultGrouping(runs);
  select.value = preset ? `${preset.kind}:${preset.key}` : "";
  await render();
}

if (section && toggle) {
  toggle.addEventListener("click", () => {
    const opening = section.hidden;
    toggle.setAttribute("aria-expanded", String(opening));
    if (opening) open();
    else section.hidden = true;
  });
  section.querySelector("[data-role=group-by]").addEventListener("change", () => {
    section.dataset.ready = "false";
    render();
  });
}
