// Runs side by side: one chart per metric with every run overlaid (shared step buckets from
// the server), latest metric values, and params and tags with differences marked.

import { api, live, metricNumber, toast } from "./api.js";
import { renderChartToolbar } from "./chart-settings.js";
import { MetricChart, compareSource } from "./charts.js";
import { el } from "./dom.js";
import { applyStyles, colorAt, escapeHtml, formatValue, statusBadge } from "./format.js";

const root = document.getElementById("compare-page");
const runIds = [...new Set(root.dataset.runIds.split(",").filter(Boolean))];
const charts = new Map();
let runs = [];

// Which value of a metric is best is the user's choice, per metric key, remembered by the
// browser: a name says nothing sure (a high `grad_norm` is no achievement).
const BEST_KEY = "mltrail.compare.best";
const DIRECTIONS = { "": "No best", min: "Lowest is best", max: "Highest is best" };
// Keyed by metric names, which may be any text: no prototype to collide with.
const bestChoice = Object.create(null);
try {
  const saved = JSON.parse(localStorage.getItem(BEST_KEY) || "{}");
  for (const [key, direction] of Object.entries(saved || {})) {
    if (direction === "min" || direction === "max") bestChoice[key] = direction;
  }
} catch {
  localStorage.removeItem(BEST_KEY);
}

function chooseBest(key, direction) {
  if (direction) bestChoice[key] = direction;
  else delete bestChoice[key];
  localStorage.setItem(BEST_KEY, JSON.stringify(bestChoice));
  renderMetrics();
}

/** The best of `values` in `direction` ("min", "max" or none); missing values never are. */
function bestValue(values, direction) {
  const finite = values.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (!direction || finite.length < 2) return null;
  return direction === "min" ? Math.min(...finite) : Math.max(...finite);
}

function runHeader(numeric = false) {
  return runs
    .map(
      (run) => `<th class="${numeric ? "num" : ""}"><span class="swatch" data-color="${escapeHtml(run.color)}"></span>
        <a href="/runs/${run.id}">${escapeHtml(run.name)}</a></th>`,
    )
    .join("");
}

function renderLegend() {
  const legend = document.getElementById("legend");
  legend.innerHTML = runs
    .map(
      (run) => `<a href="/runs/${run.id}" data-run="${run.id}"><span class="swatch" data-color="${escapeHtml(run.color)}"></span>
        ${escapeHtml(run.name)} ${statusBadge(run.status)}</a>`,
    )
    .join("");
  applyStyles(legend);
}

/** A table with one row per key and one column per run; rows whose values differ marked. */
function renderDiff(table, field, onlyDiff) {
  const keys = [...new Set(runs.flatMap((run) => Object.keys(run[field])))].sort();
  let differing = 0;
  const rows = keys.map((key) => {
    const values = runs.map((run) => run[field][key]);
    const differs = new Set(values.map((v) => (v === undefined ? "\u0000" : v))).size > 1;
    if (differs) differing += 1;
    if (onlyDiff && !differs) return "";
    const cells = values
      .map((v) => (v === undefined ? '<td class="missing">—</td>' : `<td title="${escapeHtml(v)}">${escapeHtml(v)}</td>`))
      .join("");
    return `<tr class="${differs ? "diff" : ""}" data-key="${escapeHtml(key)}"><td class="mono">${escapeHtml(key)}</td>${cells}</tr>`;
  });
  const body = rows.join("") || `<tr><td class="subtle" colspan="${runs.length + 1}">${keys.length ? "No differences" : "None"}</td></tr>`;
  table.innerHTML = `<thead><tr><th>Key</th>${runHeader()}</tr></thead><tbody>${body}</tbody>`;
  applyStyles(table);
  return { keys: keys.length, differing };
}

function renderParams() {
  const onlyDiff = document.getElementById("only-diff").checked;
  const { keys, differing } = renderDiff(document.getElementById("params-diff"), "params", onlyDiff);
  document.getElementById("params-summary").textContent = keys ? `${differing} of ${keys} differ` : "";
  renderDiff(document.getElementById("tags-diff"), "tags", false);
}

function runHeaderCells() {
  return runs.map((run) =>
    el(
      "th",
      { class: "num" },
      el("span", { class: "swatch", "data-color": run.color }),
      " ",
      el("a", { href: `/runs/${run.id}` }, run.name),
    ),
  );
}

function directionPicker(key) {
  const select = el(
    "select",
    { class: "best-picker", "aria-label": `Best value of ${key}`, "data-key": key },
    Object.entries(DIRECTIONS).map(([value, label]) => el("option", { value }, label)),
  );
  select.value = bestChoice[key] || "";
  select.addEventListener("change", () => chooseBest(key, select.value));
  return select;
}

function renderMetrics() {
  const keys = [...new Set(runs.flatMap((run) => Object.keys(run.metrics)))].sort();
  const rows = keys.map((key) => {
    const values = runs.map((run) => metricNumber(run.metrics[key]?.value));
    const best = bestValue(values, bestChoice[key]);
    const cells = values.map((v) => {
      const missing = v === null || v === undefined;
      const isBest = !missing && best !== null && v === best;
      const classes = ["num", isBest ? "best" : "", missing ? "missing" : ""].filter(Boolean);
      return el("td", { class: classes.join(" "), title: isBest ? "Best" : null }, formatValue(v));
    });
    return el(
      "tr",
      { "data-key": key },
      el("td", { class: "metric-key" }, el("span", { class: "mono", title: key }, key), directionPicker(key)),
      cells,
    );
  });
  const empty = el("tr", {}, el("td", { class: "subtle", colspan: runs.length + 1 }, "None"));
  const table = document.getElementById("metrics-diff");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", {}, "Metric"), runHeaderCells())),
    el("tbody", {}, rows.length ? rows : empty),
  );
  applyStyles(table);
}

function renderCharts() {
  const keys = [...new Set(runs.flatMap((run) => Object.keys(run.metrics)))].sort();
  const box = document.getElementById("charts");
  const ids = runs.map((run) => run.id);
  for (const key of keys) {
    if (charts.has(key)) continue;
    const chart = new MetricChart(box, {
      key,
      series: runs.map((run) => ({ runId: run.id, label: run.name, color: run.color })),
      source: compareSource(ids, key),
    });
    charts.set(key, chart);
    chart.loadWhenVisible();
  }
}

function applyMetrics(metrics) {
  let added = false;
  for (const metric of metrics) {
    const run = runs.find((item) => item.id === metric.run_id);
    if (!run) continue;
    const { run_id: _, key, ...latest } = metric;
    if (!charts.has(key)) added = true;
    run.metrics[key] = latest;
    const chart = charts.get(key);
    if (chart && chart.loaded) chart.extend(run.id, latest.step);
  }
  renderMetrics();
  if (added) renderCharts();
}

function applyRuns(changed) {
  let any = false;
  for (const item of changed) {
    const run = runs.find((r) => r.id === item.id);
    if (!run) continue;
    Object.assign(run, item);
    any = true;
  }
  if (any) renderLegend();
}

async function start() {
  const results = await Promise.allSettled(runIds.map((id) => api(`/runs/${id}`)));
  runs = results.filter((r) => r.status === "fulfilled").map((r, i) => ({ ...r.value, color: colorAt(i) }));
  const missing = results.length - runs.length;
  if (missing) toast(`${missing} of the runs could not be loaded (deleted?)`, "error");
  document.getElementById("title").textContent = `Compare ${runs.length} runs`;
  const experiments = [...new Set(runs.map((run) => run.experiment_id))];
  const crumb = document.getElementById("crumb-experiment");
  if (experiments.length === 1) {
    crumb.href = `/experiments/${experiments[0]}`;
    api(`/experiments/${experiments[0]}`)
      .then((experiment) => {
        crumb.textContent = experiment.name;
        document.getElementById("subtitle").textContent = `in ${experiment.name}`;
      })
      .catch(() => (crumb.textContent = "experiment"));
  } else {
    crumb.textContent = `${experiments.length} experiments`;
    crumb.href = "/";
  }
  if (!runs.length) return;
  renderLegend();
  renderChartToolbar(document.getElementById("chart-toolbar"));
  renderCharts();
  renderMetrics();
  renderParams();
  for (const experimentId of experiments) {
    live(`/experiments/${experimentId}/events`, {
      state: (data) => {
        applyRuns(data.runs);
        applyMetrics(data.metrics);
      },
      runs: (data) => applyRuns(data.changed),
      metrics: (data) => applyMetrics(data.metrics),
    });
  }
}

document.getElementById("only-diff").addEventListener("change", renderParams);
start();
