// One run: header, notes, metrics (table and charts), params, tags, artifacts (with previews)
// and media; live while it runs.

import { api, live, metricNumber, toast } from "./api.js";
import { showArtifacts } from "./artifacts.js";
import { renderChartToolbar } from "./chart-settings.js";
import { MetricChart, runSource } from "./charts.js";
import { el, showNotFound } from "./dom.js";
import {
  PALETTE,
  escapeHtml,
  formatDate,
  formatDuration,
  formatInteger,
  formatValue,
  runDuration,
  statusBadge,
} from "./format.js";
import { showMedia } from "./media.js";
import { aliasChips, modelHref, stageText } from "./registry.js";
import { renderNestedRuns } from "./run-nested.js";

const runId = document.getElementById("run-page").dataset.runId;
const chartsBox = document.getElementById("charts");
// The SDK's system metrics (`system/...`) chart in a section of their own, below the run's.
const SYSTEM_PREFIX = "system/";
const systemBox = document.getElementById("system-charts");
const charts = new Map();
let run = null;

// Where MLflow keeps a run's note; the API gives it as the run's `description`.
const NOTE_TAG = "mlflow.note.content";

function kvRows(entries) {
  if (!entries.length) return '<tr><td class="subtle" colspan="2">None</td></tr>';
  return entries
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td></tr>`)
    .join("");
}

function renderHeader() {
  document.title = `${run.name} · Experiment Tracker`;
  document.getElementById("title").textContent = run.name;
  document.getElementById("crumb-run").textContent = run.name;
  document.getElementById("status").innerHTML = statusBadge(run.status);
  const parent = run.parent_run_id
    ? `<span>Parent <a href="/runs/${run.parent_run_id}">${escapeHtml(run.parent_run_id.slice(0, 8))}</a></span>`
    : "";
  document.getElementById("meta").innerHTML = `
    <span>Started <b>${escapeHtml(formatDate(run.started_at))}</b></span>
    <span>Duration <b id="duration">${formatDuration(runDuration(run))}</b></span>
    ${run.ended_at ? `<span>Ended <b>${escapeHtml(formatDate(run.ended_at))}</b></span>` : ""}
    ${run.user ? `<span>User <b>${escapeHtml(run.user)}</b></span>` : ""}
    ${parent}
    <span><button type="button" class="copy" title="Copy the run id" data-copy="${run.id}">${run.id}</button></span>`;
}

function renderNotes() {
  const notes = document.getElementById("notes");
  notes.textContent = run.description || "No notes. Click Edit to describe this run.";
  notes.classList.toggle("empty-notes", !run.description);
}

function renderMetricsTable() {
  const keys = Object.keys(run.metrics).sort();
  document.getElementById("metrics-count").textContent = keys.length || "";
  document.querySelector("#metrics-table tbody").innerHTML = keys.length
    ? keys
        .map((key) => {
          const m = run.metrics[key];
          return `<tr data-key="${escapeHtml(key)}"><td class="mono">${escapeHtml(key)}</td>
            <td class="num">${formatValue(metricNumber(m.value))}</td>
            <td class="num">${formatValue(metricNumber(m.min))}</td>
            <td class="num">${formatValue(metricNumber(m.max))}</td>
            <td class="num muted">${formatInteger(m.step)}</td></tr>`;
        })
        .join("")
    : '<tr><td class="subtle" colspan="5">None yet</td></tr>';
}

function addChart(key) {
  const chart = new MetricChart(key.startsWith(SYSTEM_PREFIX) ? systemBox : chartsBox, {
    key,
    series: [{ runId, label: key, color: PALETTE[0] }],
    source: runSource(runId, key),
  });
  charts.set(key, chart);
  chart.loadWhenVisible();
  return chart;
}

function renderCharts() {
  const keys = Object.keys(run.metrics).sort();
  document.getElementById("no-metrics").hidden = keys.length > 0;
  document.getElementById("system-title").hidden = !keys.some((k) => k.startsWith(SYSTEM_PREFIX));
  for (const key of keys) if (!charts.has(key)) addChart(key);
}

/** The model versions registered from this run, each linked to its model's page. */
async function renderRegisteredVersions() {
  const body = document.querySelector("#registered-versions tbody");
  const note = (text) => el("tr", {}, el("td", { class: "subtle", colspan: 2 }, text));
  let versions;
  try {
    versions = await api(`/runs/${runId}/model-versions`);
  } catch (error) {
    body.replaceChildren(note(error.message));
    return;
  }
  document.getElementById("versions-count").textContent = versions.length || "";
  if (!versions.length) {
    body.replaceChildren(note("None. Register a model of this run to see it here."));
    return;
  }
  body.replaceChildren(
    ...versions.map((version) =>
      el(
        "tr",
        { "data-model": version.name, "data-version": version.version },
        el(
          "td",
          { class: "name" },
          el("a", { href: modelHref(version.name) }, version.name),
          el("span", { class: "muted" }, ` v${version.version}`),
        ),
        el(
          "td",
          { class: "num" },
          version.aliases.length ? aliasChips(version.aliases) : null,
          version.stage !== "None" ? [" ", stageText(version.stage)] : null,
        ),
      ),
    ),
  );
}

/** Links to the registry's versions made from a logged model, if any. */
function registeredAs(model, versions) {
  const made = versions.filter((version) => version.logged_model_id === model.id);
  if (!made.length) return null;
  return el(
    "div",
    { class: "registered-as", "data-role": "registered-as" },
    "Registered as ",
    made.flatMap((version, i) => [
      i ? ", " : "",
      el("a", { href: modelHref(version.name) }, `${version.name} v${version.version}`),
    ]),
  );
}

/** The models this run logged (MLflow 3's `log_model`): name, id, type, status, created. */
async function renderLoggedModels() {
  const body = document.querySelector("#logged-models tbody");
  const note = (text) => el("tr", {}, el("td", { class: "subtle", colspan: 2 }, text));
  let models;
  let versions;
  try {
    [models, versions] = await Promise.all([
      api(`/runs/${runId}/logged-models`),
      api(`/runs/${runId}/model-versions`).catch(() => []),
    ]);
  } catch (error) {
    body.replaceChildren(note(error.message));
    return;
  }
  document.getElementById("logged-models-count").textContent = models.length || "";
  if (!models.length) {
    body.replaceChildren(note("None. Models this run logs with MLflow 3 show here."));
    return;
  }
  body.replaceChildren(
    ...models.map((model) =>
      el(
        "tr",
        { "data-logged-model": model.id },
        el(
          "td",
          { class: "name" },
          el("span", {}, model.name),
          el("span", { class: "muted" }, ` ${model.id}`),
          model.model_type ? el("div", { class: "muted" }, model.model_type) : null,
          registeredAs(model, versions),
        ),
        el(
          "td",
          { class: "num" },
          el("span", { class: "muted" }, model.status),
          el("div", { class: "muted" }, formatDate(model.created_at)),
        ),
      ),
    ),
  );
}

document.getElementById("meta").addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  await navigator.clipboard?.writeText(button.dataset.copy).catch(() => {});
  toast("Run id copied");
});

// ---------- notes ----------

const notesForm = document.getElementById("notes-form");
document.getElementById("edit-notes").addEventListener("click", () => {
  notesForm.hidden = false;
  document.getElementById("notes").hidden = true;
  notesForm.elements.description.value = run.description || "";
  notesForm.elements.description.focus();
});
notesForm.querySelector("[data-role=cancel]").addEventListener("click", () => {
  notesForm.hidden = true;
  document.getElementById("notes").hidden = false;
});
notesForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const updated = await api(`/runs/${runId}`, {
      method: "PATCH",
      // Emptied: no note at all (the tag goes), rather than an empty one.
      body: { description: notesForm.elements.description.value || null },
    });
    run.description = updated.description;
    renderNotes();
    notesForm.hidden = true;
    document.getElementById("notes").hidden = false;
    toast("Notes saved");
  } catch (error) {
    toast(error.message, "error");
  }
});

// ---------- live ----------

function applyMetrics(metrics) {
  let added = false;
  for (const metric of metrics) {
    if (metric.run_id !== runId) continue;
    const { run_id: _, key, ...latest } = metric;
    if (!run.metrics[key]) added = true;
    run.metrics[key] = latest;
    const chart = charts.get(key);
    if (chart && chart.loaded) chart.extend(runId, latest.step);
  }
  renderMetricsTable();
  if (added) renderCharts();
}

function applyRuns(runs) {
  for (const changed of runs) {
    if (changed.id !== runId) continue;
    Object.assign(run, changed);
    renderHeader();
  }
}

setInterval(() => {
  if (run && run.status === "running") {
    const cell = document.getElementById("duration");
    if (cell) cell.textContent = formatDuration(runDuration(run));
  }
}, 1000);

// ---------- start ----------

async function start() {
  try {
    run = await api(`/runs/${runId}`);
  } catch (error) {
    if (error.status === 404) {
      showNotFound("run");
      return;
    }
    document.getElementById("title").textContent = error.message;
    document.getElementById("crumb-experiment").textContent = "";
    return;
  }
  renderHeader();
  renderNotes();
  renderMetricsTable();
  document.querySelector("#params tbody").innerHTML = kvRows(Object.entries(run.params));
  document.getElementById("params-count").textContent = Object.keys(run.params).length || "";
  // The note tag is the run's description, shown in the Notes card rather than as a tag.
  const tags = Object.entries(run.tags).filter(([key]) => key !== NOTE_TAG);
  document.querySelector("#tags tbody").innerHTML = kvRows(tags);
  document.getElementById("tags-count").textContent = tags.length || "";
  renderChartToolbar(document.getElementById("chart-toolbar"));
  renderCharts();
  // The cards fill in as their requests return; once all have, the page stops moving and says
  // so (data-ready), so a click lands where it was aimed.
  Promise.allSettled([
    showArtifacts(document.getElementById("artifacts"), document.getElementById("artifact-preview"), runId),
    showMedia(document.getElementById("media"), runId),
    renderRegisteredVersions(),
    renderLoggedModels(),
    renderNestedRuns(run),
  ]).then(() => {
    document.getElementById("run-page").dataset.ready = "true";
  });
  live(`/runs/${runId}/events`, {
    state: (data) => {
      applyRuns(data.runs);
      applyMetrics(data.metrics);
    },
    runs: (data) => applyRuns(data.changed),
    metrics: (data) => applyMetrics(data.metrics),
    gone: () => toast("This run was deleted", "error"),
  });
  const crumb = document.getElementById("crumb-experiment");
  crumb.href = `/experiments/${run.experiment_id}`;
  api(`/experiments/${run.experiment_id}`)
    .then((experiment) => (crumb.textContent = experiment.name))
    .catch(() => (crumb.textContent = "experiment"));
}

start();
