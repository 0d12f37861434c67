// An experiment's runs table: run search (filter language, server-side sort, page tokens),
// chosen param and metric columns, selection for compare and delete, live updates.

import { ApiError, api, confirmDialog, live, metricNumber, toast } from "./api.js";
import {
  escapeHtml,
  fieldName,
  formatAgo,
  formatDate,
  formatDuration,
  formatInteger,
  formatValue,
  runDuration,
  statusBadge,
} from "./format.js";

const root = document.getElementById("experiment-page");
const experimentId = root.dataset.experimentId;
const thead = document.querySelector("#runs thead");
const tbody = document.querySelector("#runs tbody");
const filterInput = document.getElementById("filter");
const filterError = document.getElementById("filter-error");
const panel = document.getElementById("columns-panel");
const pager = document.getElementById("pager");
const COLUMNS_KEY = `exptrack.columns.${experimentId}`;
const AUTO_COLUMNS = 8;
const AGGREGATES = { value: "latest", min: "min", max: "max" };

const url = new URL(location.href);
const state = {
  filter: url.searchParams.get("filter") || "",
  sort: parseSort(url.searchParams.get("sort")),
  size: Number(url.searchParams.get("size")) || 100,
  tokens: [null],
  page: 0,
  next: null,
  runs: [],
  selected: new Set(),
  columns: loadColumns(),
  paramKeys: new Set(),
  metricKeys: new Set(),
  runCount: null,
};

// ---------- columns ----------

// Fixed columns, each with the search field it sorts by (null: not sortable).
const FIXED = [
  { id: "name", label: "Run", field: "attributes.run_name" },
  { id: "status", label: "Status", field: "attributes.status" },
  { id: "started", label: "Started", field: "attributes.start_time" },
  { id: "duration", label: "Duration", field: null },
  { id: "user", label: "User", field: "attributes.user_id" },
];

function loadColumns() {
  try {
    return JSON.parse(localStorage.getItem(COLUMNS_KEY));
  } catch {
    return null;
  }
}

function saveColumns() {
  localStorage.setItem(COLUMNS_KEY, JSON.stringify(state.columns));
}

/** Columns chosen by the user, or by default the first params and latest metrics. */
function chosenColumns() {
  if (state.columns) return state.columns;
  return [
    ...[...state.paramKeys].sort().slice(0, AUTO_COLUMNS).map((key) => ({ kind: "param", key })),
    ...[...state.metricKeys]
      .sort()
      .slice(0, AUTO_COLUMNS)
      .map((key) => ({ kind: "metric", key, agg: "value" })),
  ];
}

function columnId(column) {
  return column.kind === "param" ? `param:${column.key}` : `metric:${column.key}:${column.agg}`;
}

function columnField(column) {
  if (column.kind === "param") return fieldName("params", column.key);
  // The search orders by a metric's latest value only; min and max sort this page.
  return column.agg === "value" ? fieldName("metrics", column.key) : null;
}

function parseSort(text) {
  if (!text) return null;
  const at = text.lastIndexOf(":");
  return { id: text.slice(0, at), desc: text.slice(at + 1) === "desc" };
}

function allColumns() {
  return [...FIXED, ...chosenColumns().map((c) => ({ ...c, id: columnId(c), field: columnField(c) }))];
}

// ---------- loading ----------

function syncUrl() {
  const next = new URL(location.href);
  next.search = "";
  if (state.filter) next.searchParams.set("filter", state.filter);
  if (state.sort) next.searchParams.set("sort", `${state.sort.id}:${state.sort.desc ? "desc" : "asc"}`);
  if (state.size !== 100) next.searchParams.set("size", state.size);
  history.replaceState(null, "", next);
}

function orderBy() {
  if (!state.sort) return [];
  const column = allColumns().find((c) => c.id === state.sort.id);
  return column && column.field ? [`${column.field} ${state.sort.desc ? "DESC" : "ASC"}`] : [];
}

let loading = null;

async function loadPage() {
  const controller = new AbortController();
  loading?.abort();
  loading = controller;
  try {
    const result = await api("/runs/search", {
      method: "POST",
      signal: controller.signal,
      body: {
        experiment_ids: [experimentId],
        filter: state.filter || null,
        order_by: orderBy(),
        max_results: state.size,
        page_token: state.tokens[state.page],
      },
    });
    showFilterError(null);
    state.runs = result.runs;
    state.next = result.next_page_token;
    for (const run of state.runs) {
      for (const key of Object.keys(run.params)) state.paramKeys.add(key);
      for (const key of Object.keys(run.metrics)) state.metricKeys.add(key);
    }
    render();
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error instanceof ApiError && error.status === 422 && error.detail.startsWith("filter:")) {
      showFilterError(error.detail.replace(/^filter:\s*/, ""));
      return;
    }
    toast(error.message, "error");
  } finally {
    if (loading === controller) loading = null;
  }
}

function showFilterError(message) {
  filterInput.classList.toggle("invalid", Boolean(message));
  filterError.hidden = !message;
  document.getElementById("filter-hint").hidden = Boolean(message);
  if (!message) return;
  filterError.querySelector("[data-role=message]").textContent = message;
  const match = /at position (\d+)/.exec(message);
  const snippet = filterError.querySelector("[data-role=snippet]");
  snippet.hidden = !match;
  if (match) {
    const position = Number(match[1]);
    snippet.innerHTML = `${escapeHtml(state.filter)}\n${" ".repeat(position)}<span class="caret">^</span>`;
  }
}

function restart() {
  state.tokens = [null];
  state.page = 0;
  syncUrl();
  return loadPage();
}

// ---------- rendering ----------

function sortedRuns() {
  const column = state.sort && allColumns().find((c) => c.id === state.sort.id);
  if (!column || column.field || column.kind !== "metric") return state.runs;
  const value = (run) => metricNumber(run.metrics[column.key]?.[column.agg]);
  const sign = state.sort.desc ? -1 : 1;
  return [...state.runs].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || Number.isNaN(x)) return 1;
    if (y === null || Number.isNaN(y)) return -1;
    return sign * (x - y);
  });
}

function headerCell(column) {
  const sortable = Boolean(column.field) || column.kind === "metric";
  const sorted = state.sort && state.sort.id === column.id;
  const aria = sorted ? (state.sort.desc ? "descending" : "ascending") : "none";
  const numeric = column.kind === "metric" || column.id === "duration";
  let label = escapeHtml(column.label);
  let group = "";
  let title = "";
  if (column.kind === "param") {
    group = "param";
    label = escapeHtml(column.key);
  } else if (column.kind === "metric") {
    group = column.agg === "value" ? "metric" : `metric · ${AGGREGATES[column.agg]}`;
    label = escapeHtml(column.key);
    if (!column.field) title = "Sorts the runs of this page (the search orders by latest values only)";
  }
  return `<th data-column="${escapeHtml(column.id)}" class="${sortable ? "sortable" : ""} ${numeric ? "num" : ""}"
    aria-sort="${sortable ? aria : "none"}" title="${escapeHtml(title)}">
    ${group ? `<span class="group">${group}</span>` : ""}${label}${sortable ? '<span class="arrow"></span>' : ""}</th>`;
}

function metricCell(run, column) {
  const metric = run.metrics[column.key];
  if (!metric) return `<td class="num missing" data-cell="${escapeHtml(column.id)}">—</td>`;
  const value = metricNumber(metric[column.agg]);
  return `<td class="num" data-cell="${escapeHtml(column.id)}" title="step ${formatInteger(metric.step)}">${formatValue(value)}</td>`;
}

function rowHtml(run, columns) {
  const selected = state.selected.has(run.id);
  const cells = columns.map((column) => {
    if (column.kind === "param") {
      const value = run.params[column.key];
      return value === undefined
        ? `<td class="missing">—</td>`
        : `<td title="${escapeHtml(value)}">${escapeHtml(value.length > 40 ? `${value.slice(0, 40)}…` : value)}</td>`;
    }
    return metricCell(run, column);
  });
  return `<tr data-id="${run.id}" class="${selected ? "selected" : ""}">
    <td class="check"><input type="checkbox" aria-label="Select ${escapeHtml(run.name)}" ${selected ? "checked" : ""}></td>
    <td class="name"><a href="/runs/${run.id}">${escapeHtml(run.name)}</a></td>
    <td data-cell="status">${statusBadge(run.status)}</td>
    <td class="muted" title="${escapeHtml(formatDate(run.started_at))}">${formatAgo(run.started_at)}</td>
    <td class="num" data-cell="duration">${formatDuration(runDuration(run))}</td>
    <td class="muted">${escapeHtml(run.user || "")}</td>
    ${cells.join("")}
  </tr>`;
}

function render() {
  const columns = allColumns();
  const chosen = columns.slice(FIXED.length);
  thead.innerHTML = `<tr><th class="check"><input type="checkbox" id="select-page" aria-label="Select this page"></th>${columns
    .map(headerCell)
    .join("")}</tr>`;
  const runs = sortedRuns();
  tbody.innerHTML = runs.map((run) => rowHtml(run, chosen)).join("");
  const empty = document.getElementById("empty");
  empty.hidden = runs.length > 0;
  empty.textContent = state.filter ? "No run matches this filter." : "No runs in this experiment yet.";
  const first = state.page * state.size;
  const label = runs.length ? `Runs ${formatInteger(first + 1)}–${formatInteger(first + runs.length)}` : "";
  const of = !state.filter && state.runCount !== null ? ` of ${formatInteger(state.runCount)}` : "";
  pager.querySelector("[data-role=label]").textContent = label + of;
  pager.querySelector("[data-role=prev]").disabled = state.page === 0;
  pager.querySelector("[data-role=next]").disabled = !state.next;
  pager.querySelector("[data-role=size]").value = String(state.size);
  syncSelection();
  if (!panel.hidden) renderPanel();
}

function syncSelection() {
  const count = state.selected.size;
  document.getElementById("selection-info").textContent = count ? `${count} selected` : "";
  document.getElementById("compare").disabled = count < 2;
  document.getElementById("delete").disabled = count < 1;
  const pageBox = document.getElementById("select-page");
  const onPage = state.runs.filter((run) => state.selected.has(run.id)).length;
  pageBox.checked = onPage > 0 && onPage === state.runs.length;
  pageBox.indeterminate = onPage > 0 && onPage < state.runs.length;
}

// ---------- column picker ----------

function renderPanel() {
  const chosen = new Set(chosenColumns().map(columnId));
  const params = [...state.paramKeys].sort();
  const metrics = [...state.metricKeys].sort();
  const check = (id) => (chosen.has(id) ? "checked" : "");
  panel.innerHTML = `
    <div><h3>Params</h3><div class="options">${
      params
        .map(
          (key) => `<label><input type="checkbox" data-column="param:${escapeHtml(key)}" ${check(`param:${key}`)}>
            <span class="param-key">${escapeHtml(key)}</span></label>`,
        )
        .join("") || '<span class="subtle">No params logged</span>'
    }</div></div>
    <div><h3>Metrics</h3><div class="options">${
      metrics
        .map(
          (key) => `<div class="metric-row"><span title="${escapeHtml(key)}">${escapeHtml(key)}</span>${Object.entries(
            AGGREGATES,
          )
            .map(
              ([agg, label]) => `<label><input type="checkbox" data-column="metric:${escapeHtml(key)}:${agg}"
                ${check(`metric:${key}:${agg}`)}>${label}</label>`,
            )
            .join("")}</div>`,
        )
        .join("") || '<span class="subtle">No metrics logged</span>'
    }</div></div>
    <div><h3>Layout</h3><button type="button" class="btn small" data-role="reset">Reset to default</button></div>`;
}

panel.addEventListener("change", (event) => {
  const box = event.target.closest("input[data-column]");
  if (!box) return;
  const id = box.dataset.column;
  let columns = [...chosenColumns()];
  if (box.checked) {
    const [kind, ...rest] = id.split(":");
    if (kind === "param") columns.push({ kind, key: rest.join(":") });
    else columns.push({ kind, key: rest.slice(0, -1).join(":"), agg: rest[rest.length - 1] });
  } else {
    columns = columns.filter((c) => columnId(c) !== id);
  }
  state.columns = columns;
  saveColumns();
  render();
});
panel.addEventListener("click", (event) => {
  if (!event.target.closest("[data-role=reset]")) return;
  state.columns = null;
  localStorage.removeItem(COLUMNS_KEY);
  render();
});
document.getElementById("columns-toggle").addEventListener("click", (event) => {
  panel.hidden = !panel.hidden;
  event.currentTarget.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) renderPanel();
});

// ---------- interactions ----------

thead.addEventListener("click", (event) => {
  if (event.target.id === "select-page") {
    for (const run of state.runs) {
      if (event.target.checked) state.selected.add(run.id);
      else state.selected.delete(run.id);
    }
    for (const tr of tbody.rows) {
      tr.classList.toggle("selected", event.target.checked);
      tr.querySelector("input[type=checkbox]").checked = event.target.checked;
    }
    syncSelection();
    return;
  }
  const th = event.target.closest("th.sortable");
  if (!th) return;
  const id = th.dataset.column;
  // ascending, then descending, then unsorted
  if (!state.sort || state.sort.id !== id) state.sort = { id, desc: false };
  else if (!state.sort.desc) state.sort = { id, desc: true };
  else state.sort = null;
  const column = allColumns().find((c) => c.id === id);
  if (column && !column.field) {
    syncUrl();
    render();
  } else {
    restart();
  }
});

tbody.addEventListener("change", (event) => {
  const box = event.target.closest("input[type=checkbox]");
  if (!box) return;
  const tr = box.closest("tr");
  if (box.checked) state.selected.add(tr.dataset.id);
  else state.selected.delete(tr.dataset.id);
  tr.classList.toggle("selected", box.checked);
  syncSelection();
});

document.getElementById("filter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.filter = filterInput.value.trim();
  restart();
});
filterInput.addEventListener("search", () => {
  if (!filterInput.value && state.filter) {
    state.filter = "";
    restart();
  }
});

pager.querySelector("[data-role=prev]").addEventListener("click", () => {
  state.page = Math.max(0, state.page - 1);
  loadPage();
});
pager.querySelector("[data-role=next]").addEventListener("click", () => {
  if (!state.next) return;
  state.tokens[state.page + 1] = state.next;
  state.page += 1;
  loadPage();
});
pager.querySelector("[data-role=size]").addEventListener("change", (event) => {
  state.size = Number(event.target.value);
  restart();
});

document.getElementById("compare").addEventListener("click", () => {
  location.href = `/compare?runs=${[...state.selected].join(",")}`;
});

document.getElementById("delete").addEventListener("click", async () => {
  const ids = [...state.selected];
  const ok = await confirmDialog({
    title: ids.length === 1 ? "Delete 1 run?" : `Delete ${ids.length} runs?`,
    message: "They disappear from the table, charts and API. They can be restored through the API.",
  });
  if (!ok) return;
  const results = await Promise.allSettled(ids.map((id) => api(`/runs/${id}`, { method: "DELETE" })));
  const failed = results.filter((r) => r.status === "rejected");
  state.selected.clear();
  toast(failed.length ? `${failed.length} of ${ids.length} could not be deleted` : `Deleted ${ids.length} run${ids.length === 1 ? "" : "s"}`, failed.length ? "error" : "");
  await Promise.all([loadExperiment(), loadPage()]);
});

// ---------- live updates ----------

function flash(cell, html) {
  if (!cell || cell.innerHTML === html) return;
  cell.innerHTML = html;
  cell.classList.remove("flash");
  void cell.offsetWidth; // restart the animation
  cell.classList.add("flash");
}

function applyMetrics(metrics) {
  let newKeys = false;
  for (const metric of metrics) {
    if (!state.metricKeys.has(metric.key)) {
      state.metricKeys.add(metric.key);
      newKeys = true;
    }
    const run = state.runs.find((item) => item.id === metric.run_id);
    if (!run) continue;
    const { run_id: _, key, ...latest } = metric;
    if (!run.metrics[key]) newKeys = true;
    run.metrics[key] = latest;
    const tr = tbody.querySelector(`tr[data-id="${run.id}"]`);
    if (!tr) continue;
    for (const agg of Object.keys(AGGREGATES)) {
      const cell = tr.querySelector(`td[data-cell="${CSS.escape(`metric:${key}:${agg}`)}"]`);
      if (!cell) continue;
      cell.classList.remove("missing");
      cell.title = `step ${formatInteger(latest.step)}`;
      flash(cell, formatValue(metricNumber(latest[agg])));
    }
  }
  if (newKeys && !state.columns) render();
}

function applyRuns(runs) {
  for (const changed of runs) {
    const run = state.runs.find((item) => item.id === changed.id);
    if (!run) continue;
    Object.assign(run, changed);
    const tr = tbody.querySelector(`tr[data-id="${run.id}"]`);
    if (!tr) continue;
    tr.querySelector("td.name a").textContent = run.name;
    flash(tr.querySelector('[data-cell="status"]'), statusBadge(run.status));
  }
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    loadExperiment();
    loadPage();
  }, 250);
}

live(`/experiments/${experimentId}/events`, {
  state: (data) => {
    applyRuns(data.runs);
    applyMetrics(data.metrics);
  },
  metrics: (data) => applyMetrics(data.metrics),
  runs: (data) => {
    const shown = new Set(state.runs.map((run) => run.id));
    const unseen = data.changed.some((run) => !shown.has(run.id));
    if (unseen || data.removed.length) reloadSoon();
    else applyRuns(data.changed);
  },
  gone: () => toast("This experiment was deleted", "error"),
});

// Running runs' durations tick.
setInterval(() => {
  for (const run of state.runs) {
    if (run.status !== "running") continue;
    const cell = tbody.querySelector(`tr[data-id="${run.id}"] [data-cell="duration"]`);
    if (cell) cell.textContent = formatDuration(runDuration(run));
  }
}, 1000);

// ---------- start ----------

async function loadExperiment() {
  try {
    const experiment = await api(`/experiments/${experimentId}`);
    document.title = `${experiment.name} · Experiment Tracker`;
    document.getElementById("crumb").textContent = experiment.name;
    document.getElementById("title").textContent = experiment.name;
    document.getElementById("description").textContent = experiment.description || "";
    state.runCount = experiment.run_count;
    document.getElementById("meta").innerHTML = `
      <span><b>${formatInteger(experiment.run_count)}</b> runs</span>
      <span>Owner <b>${escapeHtml(experiment.owner)}</b></span>
      <span>Created <b>${escapeHtml(formatDate(experiment.created_at))}</b></span>
      <span class="mono subtle">${escapeHtml(experiment.id)}</span>`;
  } catch (error) {
    if (error.status === 404) {
      document.getElementById("title").textContent = "Experiment not found";
      document.getElementById("description").textContent = "It may have been deleted.";
      return;
    }
    toast(error.message, "error");
  }
}

filterInput.value = state.filter;
loadExperiment();
loadPage();
