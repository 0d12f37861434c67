// An experiment's runs table: run search (filter language, server-side sort, page tokens),
// nested runs as a tree, pinned runs on top, chosen param and metric columns and their
// presets, selection for compare and delete, keyboard navigation, live updates. The view
// (filter, sort, page size, columns, selection) is kept in the address, so a link shares it.

import { ApiError, api, confirmDialog, live, metricNumber, toast } from "./api.js";
import { showNotFound } from "./dom.js";
import {
  applyStyles,
  escapeHtml,
  formatDate,
  formatInteger,
  formatValue,
  statusBadge,
} from "./format.js";
import {
  AGGREGATES,
  CHECK_WIDTH,
  FIXED,
  columnId,
  columnPickerHtml,
  columnsParam,
  defaultColumns,
  headerCell,
  parseColumnId,
  parseColumnsParam,
  rowHtml,
  sortField,
  tableColumns,
} from "./runs-columns.js";
import { RowCursor } from "./runs-keyboard.js";
import { hasNestedRuns, loadNested, loadPinned } from "./runs-search.js";
import { ColumnPresets, Pins, nestedCount, treeRows } from "./runs-tree.js";
import { idsParam, parseIdsParam, readParam, writeParams } from "./url-state.js";
import { filterChanged, workspaceChanged } from "./workspace.js";

const root = document.getElementById("experiment-page");
const experimentId = root.dataset.experimentId;
const thead = document.querySelector("#runs thead");
const tbody = document.querySelector("#runs tbody");
const filterInput = document.getElementById("filter");
const filterError = document.getElementById("filter-error");
const panel = document.getElementById("columns-panel");
const pager = document.getElementById("pager");
const COLUMNS_KEY = `exptrack.columns.${experimentId}`;
const MAX_COMPARED = 100; // what POST /metrics/history takes
// A larger selection stays out of the address: at 33 characters a run, links would grow past
// what servers and proxies commonly take in a request line (8 to 16 KB).
const MAX_SHARED_SELECTION = MAX_COMPARED;
const pins = new Pins(experimentId);
const presets = new ColumnPresets(experimentId);
const presetSwitch = document.getElementById("column-preset");

const PAGE_SIZES = [25, 100, 250, 1000];
const state = {
  filter: readParam("filter") || "",
  sort: parseSort(readParam("sort")),
  size: PAGE_SIZES.includes(Number(readParam("size"))) ? Number(readParam("size")) : 100,
  tokens: [null],
  page: 0,
  next: null,
  runs: [], // the page's runs and, without a filter, their nested runs at any depth
  pinnedRuns: [],
  expanded: new Set(), // runs whose nested runs are shown
  nestedCapped: false,
  hasNested: false, // whether the experiment has nested runs (the page's count then differs)
  nestedCheck: null, // the promise of `hasNested`, asked again when runs come or go
  selected: new Set(parseIdsParam(readParam("sel"))),
  focused: null, // the id of the run the keyboard is on
  // Columns named by the address win over the ones this browser remembers (which a link
  // opened here does not overwrite until the columns are changed).
  columns: parseColumnsParam(readParam("cols")) ?? loadColumns(),
  paramKeys: new Set(),
  metricKeys: new Set(),
  runCount: null,
  loadingMore: false,
};

// ---------- columns ----------

function loadColumns() {
  try {
    return JSON.parse(localStorage.getItem(COLUMNS_KEY));
  } catch {
    return null;
  }
}

function saveColumns() {
  localStorage.setItem(COLUMNS_KEY, JSON.stringify(state.columns));
  syncUrl();
}

/** The columns the user chose, or the default ones. */
function chosenColumns() {
  return state.columns || defaultColumns(state.paramKeys, state.metricKeys);
}

function allColumns() {
  return tableColumns(chosenColumns());
}

function activePreset() {
  return state.columns ? presets.matching(state.columns) : null;
}

function renderPanel() {
  const active = activePreset();
  panel.innerHTML = columnPickerHtml(chosenColumns(), state.paramKeys, state.metricKeys, presets.list, active?.name);
}

function renderPresetSwitch() {
  presetSwitch.closest("label").hidden = presets.list.length === 0;
  const active = activePreset();
  presetSwitch.innerHTML =
    `<option value="">${active ? "Custom" : "Custom (unsaved)"}</option>` +
    presets.list.map((preset) => `<option value="${escapeHtml(preset.name)}">${escapeHtml(preset.name)}</option>`).join("");
  presetSwitch.value = active ? active.name : "";
}

function applyPreset(name) {
  const preset = presets.get(name);
  if (!preset) return;
  state.columns = structuredClone(preset.columns);
  saveColumns();
  render();
}

function parseSort(text) {
  if (!text) return null;
  const at = text.lastIndexOf(":");
  return { id: text.slice(0, at), desc: text.slice(at + 1) === "desc" };
}

// ---------- loading ----------

/** Write the view into the address; params other modules keep there stay as they are. */
function syncUrl() {
  writeParams({
    filter: state.filter,
    sort: state.sort && `${state.sort.id}:${state.sort.desc ? "desc" : "asc"}`,
    size: state.size === 100 ? null : state.size,
    cols: state.columns && columnsParam(state.columns),
    sel: state.selected.size <= MAX_SHARED_SELECTION ? idsParam(state.selected) : null,
  });
}

function orderBy() {
  const field = state.sort && sortField(state.sort.id);
  return field ? [`${field} ${state.sort.desc ? "DESC" : "ASC"}`] : [];
}

let loading = null;
// A page is fetched 100 runs at a time and drawn as they come, so a 1,000-run page shows
// (and answers clicks) as soon as its first 100 runs arrive.
const CHUNK = 100;
// Without a filter a page holds top-level runs, each with its nested runs (loaded after the
// page); a filter's matches are nested only among themselves.
const TOP_LEVEL = "attributes.parent_run_id IS NULL";

function noteKeys(runs) {
  for (const run of runs) {
    for (const key of Object.keys(run.params)) state.paramKeys.add(key);
    for (const key of Object.keys(run.metrics)) state.metricKeys.add(key);
  }
}

/** One object per run: a pinned run's row on the page shares the pinned one's data. */
function samePinned(runs) {
  const pinned = new Map(state.pinnedRuns.map((run) => [run.id, run]));
  return runs.map((run) => pinned.get(run.id) || run);
}

/** Whether the experiment has nested runs (asked once, until runs come or go). */
function checkNested() {
  state.nestedCheck ??= hasNestedRuns(experimentId).catch(() => true); // when unsure, look
  return state.nestedCheck;
}

async function loadPage() {
  const controller = new AbortController();
  loading?.abort();
  loading = controller;
  let token = state.tokens[state.page];
  const tree = !state.filter;
  const search = { experiment_ids: [experimentId], filter: tree ? TOP_LEVEL : state.filter, order_by: orderBy() };
  const runs = [];
  const pinned = loadPinned(experimentId, pins, controller.signal);
  pinned.catch(() => {}); // reported where it is awaited
  try {
    do {
      const result = await api("/runs/search", {
        method: "POST",
        signal: controller.signal,
        body: { ...search, max_results: Math.min(CHUNK, state.size - runs.length), page_token: token },
      });
      if (controller.signal.aborted) return;
      showFilterError(null);
      state.pinnedRuns = await pinned;
      noteKeys(state.pinnedRuns);
      runs.push(...result.runs);
      token = result.next_page_token;
      noteKeys(result.runs);
      state.runs = samePinned(runs);
      state.next = token;
      state.loadingMore = Boolean(token) && runs.length < state.size;
      state.nestedCapped = false;
      render();
    } while (state.loadingMore);
    // Only an experiment with nested runs pays for looking up each page's nested runs.
    if (tree && (await checkNested())) {
      const roots = [...runs, ...state.pinnedRuns].map((run) => run.id);
      const { nested, capped } = await loadNested(experimentId, roots, orderBy(), controller.signal);
      if (controller.signal.aborted) return;
      noteKeys(nested);
      state.runs = samePinned([...runs, ...nested]);
      state.nestedCapped = capped;
      if (nested.length) render();
    }
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

/** How the loaded runs are sorted here (by a column the search cannot order by), or null. */
function pageOrder() {
  const column = state.sort && allColumns().find((c) => c.id === state.sort.id);
  if (!column || column.field || column.kind !== "metric") return null;
  const value = (run) => metricNumber(run.metrics[column.key]?.[column.agg]);
  const sign = state.sort.desc ? -1 : 1;
  return (a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || Number.isNaN(x)) return 1;
    if (y === null || Number.isNaN(y)) return -1;
    return sign * (x - y);
  };
}

// Pages larger than this draw only the rows in view (plus a margin), so 1,000 rows cost what
// 60 do; the rows have a fixed height (CSS), which tells where each one is without drawing it.
const WINDOWED_ABOVE = 150;
const ROW_HEIGHT = 42;
const MARGIN_ROWS = 20;
const scroller = document.getElementById("runs-scroller");
let shown = { rows: [], columns: [] };
let drawn = null;

function renderRows() {
  const { rows: runs, columns } = shown;
  const flat = !runs.some((row) => row.children || row.depth);
  const html = (row) => rowHtml(row.run, columns, state.selected.has(row.run.id), { ...row, flat });
  if (runs.length <= WINDOWED_ABOVE) {
    drawn = null;
    tbody.innerHTML = runs.map(html).join("");
    cursor.mark();
    return;
  }
  const top = Math.max(0, scroller.scrollTop - thead.offsetHeight);
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - MARGIN_ROWS);
  const last = Math.min(runs.length, first + Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 2 * MARGIN_ROWS);
  if (drawn && drawn.first === first && drawn.last === last && drawn.runs === runs) return;
  drawn = { first, last, runs };
  const span = columns.length + FIXED.length + 1;
  const spacer = (rows) =>
    rows ? `<tr class="spacer" aria-hidden="true"><td colspan="${span}" data-height="${rows * ROW_HEIGHT}"></td></tr>` : "";
  tbody.innerHTML =
    spacer(first) +
    runs
      .slice(first, last)
      .map(html)
      .join("") +
    spacer(runs.length - last);
  applyStyles(tbody);
  cursor.mark();
}

/** Draw row `index` of the table and scroll it into view (below the sticky header). */
function revealRow(index) {
  if (shown.rows.length > WINDOWED_ABOVE) {
    const header = thead.offsetHeight;
    if (index * ROW_HEIGHT < scroller.scrollTop) scroller.scrollTop = index * ROW_HEIGHT;
    const bottom = header + (index + 1) * ROW_HEIGHT;
    if (bottom > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = bottom - scroller.clientHeight;
    renderRows();
  }
  const tr = row(shown.rows[index].run.id);
  tr?.scrollIntoView({ block: "nearest" });
  return tr;
}

const cursor = new RowCursor(document.getElementById("runs"), {
  ids: () => shown.rows.map((r) => r.run.id),
  reveal: revealRow,
  toggle: (id) => row(id)?.querySelector("input[type=checkbox]")?.click(),
  open: (id) => {
    location.href = `/runs/${id}`;
  },
});

let scrollFrame = null;
scroller.addEventListener("scroll", () => {
  if (shown.rows.length <= WINDOWED_ABOVE || scrollFrame) return;
  scrollFrame = requestAnimationFrame(() => {
    scrollFrame = null;
    renderRows();
  });
});

function render() {
  const columns = allColumns();
  const chosen = columns.slice(FIXED.length);
  thead.innerHTML = `<tr><th class="check" data-width="${CHECK_WIDTH}"><input type="checkbox" id="select-page" aria-label="Select this page"></th>${columns
    .map((column) => headerCell(column, state.sort))
    .join("")}</tr>`;
  applyStyles(thead);
  thead.parentElement.style.minWidth = `${columns.reduce((sum, c) => sum + c.width, CHECK_WIDTH)}px`;
  const rows = treeRows(state.pinnedRuns, state.runs, state.expanded, pageOrder());
  shown = { rows, columns: chosen };
  drawn = null;
  renderRows();
  const empty = document.getElementById("empty");
  empty.hidden = rows.length > 0;
  empty.textContent = state.filter ? "No run matches this filter." : "No runs in this experiment yet.";
  const first = state.page * state.size;
  const nested = nestedCount(state.runs);
  const count = state.runs.length - nested; // the page's own runs; nested ones come with them
  const label = count ? `Runs ${formatInteger(first + 1)}–${formatInteger(first + count)}` : "";
  const known = !state.filter && !state.hasNested && state.runCount !== null;
  const of = known ? ` of ${formatInteger(state.runCount)}` : "";
  const inside = nested ? ` · ${formatInteger(nested)}${state.nestedCapped ? "+" : ""} nested` : "";
  pager.querySelector("[data-role=label]").textContent = label + of + inside + (state.loadingMore ? " · loading…" : "");
  pager.querySelector("[data-role=prev]").disabled = state.page === 0;
  pager.querySelector("[data-role=next]").disabled = !state.next || state.loadingMore;
  pager.querySelector("[data-role=size]").value = String(state.size);
  syncSelection();
  renderPresetSwitch();
  if (!panel.hidden) renderPanel();
}

/** The runs drawn on the page: the pinned ones, the page's, and the shown nested ones. */
function drawnRuns() {
  return shown.rows.map((row) => row.run);
}

function syncSelection() {
  const count = state.selected.size;
  document.getElementById("selection-info").textContent = count ? `${count} selected` : "";
  const compare = document.getElementById("compare");
  compare.disabled = count < 2 || count > MAX_COMPARED;
  compare.title = count > MAX_COMPARED ? `At most ${MAX_COMPARED} runs can be compared` : "";
  document.getElementById("delete").disabled = count < 1;
  syncUrl();
  const pageBox = document.getElementById("select-page");
  const runs = drawnRuns();
  const onPage = runs.filter((run) => state.selected.has(run.id)).length;
  pageBox.checked = onPage > 0 && onPage === runs.length;
  pageBox.indeterminate = onPage > 0 && onPage < runs.length;
}

// ---------- column picker ----------

panel.addEventListener("change", (event) => {
  const box = event.target.closest("input[data-column]");
  if (!box) return;
  const id = box.dataset.column;
  let columns = [...chosenColumns()];
  if (box.checked) {
    columns.push(parseColumnId(id));
  } else {
    columns = columns.filter((c) => columnId(c) !== id);
  }
  state.columns = columns;
  saveColumns();
  render();
});
panel.addEventListener("click", (event) => {
  const apply = event.target.closest("[data-role=apply-preset]");
  if (apply) {
    applyPreset(apply.dataset.name);
    return;
  }
  const remove = event.target.closest("[data-role=delete-preset]");
  if (remove) {
    presets.remove(remove.dataset.name);
    render();
    return;
  }
  if (!event.target.closest("[data-role=reset]")) return;
  state.columns = null;
  localStorage.removeItem(COLUMNS_KEY);
  syncUrl();
  render();
});
panel.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-role=save-preset]");
  if (!form) return;
  event.preventDefault();
  const name = form.elements.name.value.trim();
  if (!name) return;
  state.columns = structuredClone(chosenColumns());
  saveColumns();
  presets.save(name, state.columns);
  toast(`Saved the columns as “${name}”`);
  render();
});
presetSwitch.addEventListener("change", () => {
  if (presetSwitch.value) applyPreset(presetSwitch.value);
});
document.getElementById("columns-toggle").addEventListener("click", (event) => {
  panel.hidden = !panel.hidden;
  event.currentTarget.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) renderPanel();
});

// ---------- interactions ----------

// Sortable headers take the keyboard too (Enter or Space).
thead.addEventListener("keydown", (event) => {
  if ((event.key === "Enter" || event.key === " ") && event.target.matches("th.sortable")) {
    event.preventDefault();
    event.target.click();
  }
});

thead.addEventListener("click", (event) => {
  if (event.target.id === "select-page") {
    for (const run of drawnRuns()) {
      if (event.target.checked) state.selected.add(run.id);
      else state.selected.delete(run.id);
    }
    for (const tr of tbody.querySelectorAll("tr[data-id]")) markSelected(tr, event.target.checked);
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
  // From the first page again, even for a column that sorts only the loaded page: the page
  // tokens of the previous order would not fit the new one.
  restart();
});

tbody.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-role]");
  if (!button) return;
  const id = button.closest("tr").dataset.id;
  if (button.dataset.role === "toggle") {
    if (state.expanded.has(id)) state.expanded.delete(id);
    else state.expanded.add(id);
  } else if (button.dataset.role === "pin") {
    pins.toggle(id);
    const run = [...state.pinnedRuns, ...state.runs].find((r) => r.id === id);
    state.pinnedRuns = pins.has(id) ? [...state.pinnedRuns, run] : state.pinnedRuns.filter((r) => r.id !== id);
  } else {
    return;
  }
  render();
  row(id)?.querySelector(`[data-role=${button.dataset.role}]`)?.focus(); // keep the keyboard's place
});

function markSelected(tr, selected) {
  tr.classList.toggle("selected", selected);
  tr.setAttribute("aria-selected", String(selected));
  tr.querySelector("input[type=checkbox]").checked = selected;
}

tbody.addEventListener("change", (event) => {
  const box = event.target.closest("input[type=checkbox]");
  if (!box) return;
  const tr = box.closest("tr");
  if (box.checked) state.selected.add(tr.dataset.id);
  else state.selected.delete(tr.dataset.id);
  markSelected(tr, box.checked);
  syncSelection();
});

document.getElementById("filter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.filter = filterInput.value.trim();
  restart();
  filterChanged();
});
filterInput.addEventListener("search", () => {
  if (!filterInput.value && state.filter) {
    state.filter = "";
    restart();
    filterChanged();
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

document.getElementById("copy-link").addEventListener("click", async () => {
  syncUrl();
  try {
    await navigator.clipboard.writeText(location.href);
    const left = state.selected.size > MAX_SHARED_SELECTION;
    toast(`Copied a link to this view${left ? ` (without the selection: more than ${MAX_SHARED_SELECTION} runs)` : ""}`);
  } catch {
    toast("The browser did not let the page copy; copy the address bar instead", "error");
  }
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
  state.nestedCheck = null;
  await Promise.all([loadExperiment(), loadPage()]);
});

// ---------- live updates ----------

/** Show a changed value with a short highlight (an animation that forces no layout). */
function flash(cell, html) {
  if (!cell) return;
  cell.innerHTML = html;
  const from = "color-mix(in srgb, var(--accent) 22%, transparent)";
  cell.animate([{ backgroundColor: from }, { backgroundColor: "transparent" }], {
    duration: 1200,
    easing: "ease-out",
  });
}

function row(runId) {
  return tbody.querySelector(`tr[data-id="${CSS.escape(runId)}"]`);
}

/** Every loaded run by id (pinned ones included). */
function loadedRuns() {
  return new Map([...state.runs, ...state.pinnedRuns].map((run) => [run.id, run]));
}

function applyMetrics(metrics) {
  let newKeys = false;
  const shown = loadedRuns();
  for (const metric of metrics) {
    if (!state.metricKeys.has(metric.key)) {
      state.metricKeys.add(metric.key);
      newKeys = true;
    }
    const run = shown.get(metric.run_id);
    if (!run) continue;
    const { run_id: _, key, ...latest } = metric;
    const before = run.metrics[key];
    if (!before) newKeys = true;
    else if (["value", "min", "max", "step"].every((f) => String(before[f]) === String(latest[f]))) continue;
    run.metrics[key] = latest;
    const tr = row(run.id);
    if (!tr) continue;
    for (const agg of Object.keys(AGGREGATES)) {
      const cell = tr.querySelector(`td[data-cell="${CSS.escape(`metric:${key}:${agg}`)}"]`);
      if (!cell) continue;
      cell.classList.remove("missing");
      cell.title = `step ${formatInteger(latest.step)}`;
      const text = formatValue(metricNumber(latest[agg]));
      if (cell.textContent !== text) flash(cell, text);
    }
  }
  if (newKeys && !state.columns) render();
}

function applyRuns(runs) {
  const shown = loadedRuns();
  for (const changed of runs) {
    const run = shown.get(changed.id);
    if (!run || (run.status === changed.status && run.name === changed.name && run.ended_at === changed.ended_at)) {
      continue;
    }
    Object.assign(run, changed);
    const tr = row(run.id);
    if (!tr) continue;
    tr.querySelector("td.name a").textContent = run.name;
    flash(tr.querySelector('[data-cell="status"]'), statusBadge(run.status));
  }
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    state.nestedCheck = null;
    loadExperiment();
    loadPage();
  }, 250);
}

live(`/experiments/${experimentId}/events`, {
  state: (data) => {
    applyRuns(data.runs);
    applyMetrics(data.metrics);
  },
  metrics: (data) => { applyMetrics(data.metrics); workspaceChanged(); },
  runs: (data) => {
    workspaceChanged();
    const shown = loadedRuns();
    const unseen = data.changed.some((run) => !shown.has(run.id));
    if (unseen || data.removed.length) reloadSoon();
    else applyRuns(data.changed);
  },
  gone: () => toast("This experiment was deleted", "error"),
});

// ---------- start ----------

async function loadExperiment() {
  try {
    const experiment = await api(`/experiments/${experimentId}`);
    document.title = `${experiment.name} · Experiment Tracker`;
    document.getElementById("crumb").textContent = experiment.name;
    document.getElementById("title").textContent = experiment.name;
    document.getElementById("description").textContent = experiment.description || "";
    state.runCount = experiment.run_count;
    state.hasNested = await checkNested();
    if (state.runs.length) render();
    document.getElementById("meta").innerHTML = `
      <span><b>${formatInteger(experiment.run_count)}</b> runs</span>
      <span>Owner <b>${escapeHtml(experiment.owner)}</b></span>
      <span>Created <b>${escapeHtml(formatDate(experiment.created_at))}</b></span>
      <span class="mono subtle">${escapeHtml(experiment.id)}</span>`;
  } catch (error) {
    if (error.status === 404) {
      showNotFound("experiment");
      return;
    }
    toast(error.message, "error");
  }
}

filterInput.value = state.filter;
syncUrl(); // the columns this browser remembers go into the address too
loadExperiment();
loadPage();
