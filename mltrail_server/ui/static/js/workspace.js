// The experiment workspace, over the runs the current filter returns (up to 500): one chart per
// metric through the server's multi-run downsample (POST /metrics/history, 100 runs a request),
// one line per run or, grouped by a param or tag, one mean line per group with a min–max or
// ±1 std band; a scatter of two params or metrics; parallel coordinates over chosen params to
// a metric. Its choices live in the URL (`ws_*` keys); it redraws on the experiment's live
// events (`workspaceChanged`, called by experiment.js), at most once per REFRESH_MS, and at once
// when the runs table's filter changes (`filterChanged`).

import { api, metricNumber } from "./api.js";
import { applyStyles, colorAt, escapeHtml } from "./format.js";
import { aggregateByStep, defaultGrouping, groupRuns } from "./run-groups.js";
import { lineChart, listenForHover, rememberLines } from "./workspace-lines.js";
import { isNumeric, parallelPlot, scatterPlot } from "./workspace-plots.js";
import { hasAnyParam, readParam, writeParams } from "./url-state.js";

const root = document.getElementById("experiment-page");
const experimentId = root.dataset.experimentId;
const section = document.getElementById("workspace");
const toggle = document.getElementById("workspace-toggle");
const MAX_RUNS = 500;
const SEARCH_PAGE = 500; // POST /runs/search takes up to 1,000 a page
const RUNS_PER_HISTORY = 100; // what POST /metrics/history takes
const MAX_POINTS = 300;
const MIN_POINTS = 20;
// Points a chart asks for over all its runs: up to 13 runs get MAX_POINTS each, 50 runs 80,
// 500 runs MIN_POINTS. The plot is 356 px wide, and fewer points are a smaller answer and, for
// long series, the server's block rollups (buckets of 128 steps or more) instead of raw points.
const POINT_BUDGET = 4000;
const REFRESH_MS = 2000;
const URL_KEYS = ["ws_group", "ws_band", "ws_x", "ws_y", "ws_axes", "ws_metric"];

let runs = [];
// Downsampled series by metric key, for the runs in `runs`: a change of grouping, band or plot
// draws again without asking the server.
let histories = new Map();
const control = (role) => section.querySelector(`[data-role=${role}]`);

async function loadRuns() {
  const filter = document.getElementById("filter").value.trim();
  const found = [];
  let token = null;
  do {
    const page = await api("/runs/search", {
      method: "POST",
      body: {
        experiment_ids: [experimentId],
        filter,
        max_results: Math.min(SEARCH_PAGE, MAX_RUNS - found.length),
        order_by: [],
        page_token: token,
      },
    });
    found.push(...page.runs);
    token = page.next_page_token;
  } while (token && found.length < MAX_RUNS);
  return found;
}

function keysOf(bag) {
  return [...new Set(runs.flatMap((run) => Object.keys(run[bag] || {})))].sort();
}

function options(values, chosen) {
  return values.map(([value, label]) => `<option value="${escapeHtml(value)}"${value === chosen ? " selected" : ""}>${escapeHtml(label)}</option>`).join("");
}

/** Fill the controls from the runs' params, tags and metrics, keeping what was chosen. */
function fillControls(wanted) {
  const params = keysOf("params");
  const metrics = keysOf("metrics");
  control("group-by").innerHTML = options(
    [["", "No grouping (one line per run)"], ...params.map((k) => [`param:${k}`, `param ${k}`]), ...keysOf("tags").map((k) => [`tag:${k}`, `tag ${k}`])],
    wanted.group,
  );
  control("band").value = wanted.band;
  const numeric = [
    ...params.filter((k) => isNumeric(runs, `param:${k}`)).map((k) => [`param:${k}`, `param ${k}`]),
    ...metrics.map((k) => [`metric:${k}`, `metric ${k}`]),
  ];
  const fallbackX = numeric[0]?.[0] ?? "";
  const fallbackY = numeric.find(([f]) => f.startsWith("metric:"))?.[0] ?? fallbackX;
  const has = (field) => numeric.some(([f]) => f === field);
  control("scatter-x").innerHTML = options(numeric, has(wanted.x) ? wanted.x : fallbackX);
  control("scatter-y").innerHTML = options(numeric, has(wanted.y) ? wanted.y : fallbackY);
  const axes = wanted.axes ?? params.slice(0, 6);
  control("parallel-params").innerHTML = params
    .map((k) => `<label class="check"><input type="checkbox" value="${escapeHtml(k)}"${axes.includes(k) ? " checked" : ""}> ${escapeHtml(k)}</label>`)
    .join("");
  control("parallel-metric").innerHTML = options(
    metrics.map((k) => [k, k]),
    metrics.includes(wanted.metric) ? wanted.metric : metrics[0],
  );
}

/** The choices the controls show now. */
function chosen() {
  return {
    group: control("group-by").value,
    band: control("band").value,
    x: control("scatter-x").value,
    y: control("scatter-y").value,
    axes: [...control("parallel-params").querySelectorAll("input:checked")].map((box) => box.value),
    metric: control("parallel-metric").value,
  };
}

// In the address, "none" is an explicit choice of no grouping and "-" of no parallel axes
// (an absent key means the default); axes are comma-separated (param keys hold no commas).
const NO_GROUP = "none";
const NO_AXES = "-";

/** The choices in the URL (null where a key is absent), and whether any is there. */
function choicesInUrl() {
  const group = readParam("ws_group");
  const axes = readParam("ws_axes");
  return {
    present: hasAnyParam(URL_KEYS),
    group: group === NO_GROUP ? "" : group,
    band: readParam("ws_band"),
    x: readParam("ws_x"),
    y: readParam("ws_y"),
    axes: axes === null ? null : axes === NO_AXES ? [] : axes.split(",").filter(Boolean),
    metric: readParam("ws_metric"),
  };
}

/** Put the workspace's choices in the URL (or take them out), leaving every other key be. */
function writeUrl(choices) {
  if (!choices) {
    writeParams(Object.fromEntries(URL_KEYS.map((key) => [key, null])));
    return;
  }
  writeParams({
    ws_group: choices.group || NO_GROUP,
    ws_band: choices.band,
    ws_x: choices.x,
    ws_y: choices.y,
    ws_axes: choices.axes.length ? choices.axes.join(",") : NO_AXES,
    ws_metric: choices.metric,
  });
}

function parseGrouping(value) {
  if (!value) return null;
  const at = value.indexOf(":");
  return { kind: value.slice(0, at), key: value.slice(at + 1) };
}

/** Every run's downsampled series of `key`, a request per RUNS_PER_HISTORY runs. */
async function fetchHistory(key) {
  const points = Math.max(MIN_POINTS, Math.min(MAX_POINTS, Math.floor(POINT_BUDGET / runs.length)));
  const ids = runs.filter((run) => key in (run.metrics || {})).map((r) => r.id);
  const requests = [];
  for (let i = 0; i < ids.length; i += RUNS_PER_HISTORY) {
    const run_ids = ids.slice(i, i + RUNS_PER_HISTORY);
    requests.push(api("/metrics/history", { method: "POST", body: { run_ids, key, points, start_step: null, end_step: null } }));
  }
  const byRun = new Map();
  for (const result of await Promise.all(requests)) {
    for (const item of result.series) {
      const series = [];
      for (const p of item.points) {
        const value = metricNumber(p.value);
        if (value !== null && Number.isFinite(value)) series.push({ step: p.step, value });
      }
      byRun.set(item.run_id, series);
    }
  }
  return byRun;
}

function linesFor(byRun, grouping, band) {
  if (!grouping) {
    return runs.map((run, i) => ({ name: run.name || run.id, color: colorAt(i), points: byRun.get(run.id) || [] }));
  }
  const groups = [...groupRuns(runs, grouping)].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return groups.map(([name, ids], i) => ({
    name,
    color: colorAt(i),
    band,
    points: aggregateByStep(ids.map((id) => byRun.get(id) || [])).map((p) => ({
      step: p.step,
      value: p.mean,
      low: band === "std" ? p.mean - p.std : p.min,
      high: band === "std" ? p.mean + p.std : p.max,
    })),
  }));
}

function renderPlots(choices) {
  control("scatter").innerHTML = choices.x && choices.y ? scatterPlot(runs, choices.x, choices.y) : '<p class="subtle">No numeric params or metrics.</p>';
  control("parallel").innerHTML = choices.metric ? parallelPlot(runs, choices.axes, choices.metric) : '<p class="subtle">No metrics.</p>';
}

async function renderCharts(choices) {
  const charts = control("charts");
  const keys = keysOf("metrics");
  if (!runs.length || !keys.length) {
    charts.innerHTML = '<p class="subtle">No metrics to chart.</p>';
    return;
  }
  const missing = keys.filter((key) => !histories.has(key));
  const fetched = await Promise.all(missing.map((key) => fetchHistory(key)));
  missing.forEach((key, i) => histories.set(key, fetched[i]));
  const grouping = parseGrouping(choices.group);
  const linesByKey = new Map(keys.map((key) => [key, linesFor(histories.get(key), grouping, choices.band)]));
  charts.innerHTML = keys.map((key) => lineChart(key, linesByKey.get(key))).join("");
  applyStyles(charts);
  rememberLines(charts, linesByKey);
}

let rendering = Promise.resolve();
let latest = 0; // the newest render's number: only its drawing may say the workspace is ready

/** Draw everything from `runs` and the controls; `data-ready` says when it is on screen. */
function render() {
  const mine = ++latest;
  section.dataset.ready = "false";
  const choices = chosen();
  writeUrl(choices);
  const draw = async () => {
    renderPlots(choices);
    await renderCharts(choices);
    // An older drawing that ends while a newer one waits must not report the newer one drawn.
    if (mine === latest) section.dataset.ready = "true";
  };
  // One drawing at a time, in order; a failed one does not stop the next.
  rendering = rendering.then(draw, draw);
  return rendering;
}

let reloads = 0;

async function reload(wanted) {
  // Only the newest search is drawn: an older one (an earlier filter) may answer later.
  const mine = ++reloads;
  const found = await loadRuns();
  if (mine !== reloads) return;
  runs = found;
  histories = new Map();
  fillControls(wanted);
  await render();
}

async function open() {
  section.hidden = false;
  toggle.setAttribute("aria-expanded", "true");
  section.dataset.ready = "false";
  const url = choicesInUrl();
  runs = await loadRuns();
  histories = new Map();
  const preset = defaultGrouping(runs);
  fillControls({
    group: url.group ?? (preset ? `${preset.kind}:${preset.key}` : ""),
    band: url.band === "std" ? "std" : "minmax",
    x: url.x,
    y: url.y,
    axes: url.axes,
    metric: url.metric,
  });
  await render();
}

function close() {
  section.hidden = true;
  toggle.setAttribute("aria-expanded", "false");
  writeUrl(null);
}

let lastRefresh = 0;
let refreshTimer = null;

/**
 * The experiment's runs or metric points changed (a live event): while the workspace is open,
 * search and draw again, at most once per REFRESH_MS; a change during a wait is drawn by the
 * refresh that wait ends in.
 */
export function workspaceChanged() {
  if (!section || section.hidden || refreshTimer) return;
  const wait = Math.max(0, lastRefresh + REFRESH_MS - Date.now());
  refreshTimer = setTimeout(async () => {
    lastRefresh = Date.now();
    refreshTimer = null;
    if (!section.hidden) await reload(chosen());
  }, wait);
}

/** The runs table's filter changed: while the workspace is open, it draws the runs the new
 * filter returns, at once. */
export function filterChanged() {
  if (!section || section.hidden) return;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  lastRefresh = Date.now();
  section.dataset.ready = "false";
  // A filter the server refuses (the runs table says why) leaves the drawing as it was.
  reload(chosen()).catch(() => (section.dataset.ready = "true"));
}

if (section && toggle) {
  toggle.addEventListener("click", () => (section.hidden ? open() : close()));
  section.addEventListener("change", (event) => {
    if (event.target.closest("[data-role=charts]")) return;
    render();
  });
  listenForHover(control("charts"));
  // After experiment.js (which imports this module) has put the URL's filter in its box.
  if (choicesInUrl().present) setTimeout(open, 0);
}
