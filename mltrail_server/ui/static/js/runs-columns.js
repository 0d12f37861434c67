// The runs table's columns: which exist, how they sort, and how a header and a row are drawn.
// Pure functions of their arguments; the page (experiment.js) holds the state.

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
import { metricNumber } from "./api.js";
import { rowElementId } from "./runs-keyboard.js";

export const AGGREGATES = { value: "latest", min: "min", max: "max" };
const AUTO_COLUMNS = 8;

// Fixed columns, each with the search field it sorts by (null: not sortable).
// Widths in px: the table lays out by them (`table-layout: fixed`), which keeps a 1,000-row
// page fast to draw; longer values are cut with an ellipsis and shown whole on hover.
export const FIXED = [
  { id: "name", label: "Run", field: "attributes.run_name", width: 260 },
  { id: "status", label: "Status", field: "attributes.status", width: 132 },
  { id: "started", label: "Started", field: "attributes.start_time", width: 120 },
  { id: "duration", label: "Duration", field: null, width: 100 },
  { id: "user", label: "User", field: "attributes.user_id", width: 110 },
];
export const CHECK_WIDTH = 40;
const PARAM_WIDTH = 130;
const METRIC_WIDTH = 120;

/** By default: the latest value of the first metrics, then the first params (metrics are
 * what a runs table is read for, so they come first, on screen without scrolling). */
export function defaultColumns(paramKeys, metricKeys) {
  return [
    ...[...metricKeys]
      .sort()
      .slice(0, AUTO_COLUMNS)
      .map((key) => ({ kind: "metric", key, agg: "value" })),
    ...[...paramKeys].sort().slice(0, AUTO_COLUMNS).map((key) => ({ kind: "param", key })),
  ];
}

export function columnId(column) {
  return column.kind === "param" ? `param:${column.key}` : `metric:${column.key}:${column.agg}`;
}

/** The inverse of columnId. */
export function parseColumnId(id) {
  const [kind, ...rest] = id.split(":");
  if (kind === "param") return { kind, key: rest.join(":") };
  return { kind, key: rest.slice(0, -1).join(":"), agg: rest[rest.length - 1] };
}

// Chosen columns in a link, in their order: `m:loss,min:loss,p:lr` (a metric's latest, min
// or max; a param). A key's own `%` and `,` are escaped; "-" is no column at all.
const METRIC_CODES = { value: "m", min: "min", max: "max" };
const NONE = "-";

/** The chosen columns as the compact text of the `cols` query param. */
export function columnsParam(columns) {
  if (!columns.length) return NONE;
  const key = (text) => text.replaceAll("%", "%25").replaceAll(",", "%2C");
  return columns
    .map((c) => (c.kind === "param" ? `p:${key(c.key)}` : `${METRIC_CODES[c.agg]}:${key(c.key)}`))
    .join(",");
}

/** The inverse of columnsParam; null when `text` names no column it knows (or is absent). */
export function parseColumnsParam(text) {
  if (text === null || text === undefined || text === "") return null;
  if (text === NONE) return [];
  const aggs = Object.fromEntries(Object.entries(METRIC_CODES).map(([agg, code]) => [code, agg]));
  const columns = [];
  const seen = new Set();
  for (const item of text.split(",")) {
    const at = item.indexOf(":");
    if (at < 1) continue;
    const code = item.slice(0, at);
    let key;
    try {
      key = decodeURIComponent(item.slice(at + 1));
    } catch {
      continue;
    }
    if (!key) continue;
    const column = code === "p" ? { kind: "param", key } : aggs[code] ? { kind: "metric", key, agg: aggs[code] } : null;
    if (!column || seen.has(columnId(column))) continue;
    seen.add(columnId(column));
    columns.push(column);
  }
  return columns.length ? columns : null;
}

function columnField(column) {
  if (column.kind === "param") return fieldName("params", column.key);
  // The search orders by a metric's latest value only; min and max sort this page.
  return column.agg === "value" ? fieldName("metrics", column.key) : null;
}

/** The search field a column sorts by on the server (null: it sorts the loaded page). */
export function sortField(columnIdText) {
  const fixed = FIXED.find((column) => column.id === columnIdText);
  return fixed ? fixed.field : columnField(parseColumnId(columnIdText));
}

/** Every column of the table: the fixed ones, then the chosen ones. */
export function tableColumns(chosen) {
  return [
    ...FIXED,
    ...chosen.map((c) => ({
      ...c,
      id: columnId(c),
      field: columnField(c),
      width: c.kind === "param" ? PARAM_WIDTH : METRIC_WIDTH,
    })),
  ];
}

export function headerCell(column, sort) {
  const sortable = Boolean(column.field) || column.kind === "metric";
  const sorted = sort && sort.id === column.id;
  const aria = sorted ? (sort.desc ? "descending" : "ascending") : "none";
  const numeric = column.kind === "metric" || column.id === "duration";
  const text = column.kind ? column.key : column.label;
  let group = "";
  let title = text;
  if (column.kind === "param") {
    group = "param";
  } else if (column.kind === "metric") {
    group = column.agg === "value" ? "metric" : `metric · ${AGGREGATES[column.agg]}`;
    if (!column.field) title = `${text}: sorts the runs of this page (the search orders by latest values only)`;
  }
  return `<th data-column="${escapeHtml(column.id)}" class="${sortable ? "sortable" : ""} ${numeric ? "num" : ""}"
    aria-sort="${sortable ? aria : "none"}" title="${escapeHtml(title)}" data-width="${Number(column.width)}"
    ${sortable ? 'tabindex="0"' : ""}>
    ${group ? `<span class="group">${group}</span>` : ""}${escapeHtml(text)}${sortable ? '<span class="arrow"></span>' : ""}</th>`;
}

function metricCell(run, column) {
  const metric = run.metrics[column.key];
  if (!metric) return `<td class="num missing" data-cell="${escapeHtml(column.id)}">—</td>`;
  const value = metricNumber(metric[column.agg]);
  return `<td class="num" data-cell="${escapeHtml(column.id)}" title="step ${formatInteger(metric.step)}">${formatValue(value)}</td>`;
}

const MAX_INDENT = 6;
const PIN_ICON = `<svg viewBox="0 0 16 16" aria-hidden="true"><path fill="currentColor"
  d="M10.2 1.2 14.8 5.8l-1.3.6-2.6 2.6.4 3.1-1.4 1.4-3-3-3.6 3.6H2.2v-1.1l3.6-3.6-3-3 1.4-1.4 3.1.4 2.6-2.6z"/></svg>`;

/** The name cell: indented by depth, with the nested runs' toggle and count, and a pin. */
function nameCell(run, tree) {
  const depth = Math.min(tree.depth, MAX_INDENT);
  const name = escapeHtml(run.name);
  const noun = tree.children === 1 ? "nested run" : "nested runs";
  const toggle = tree.children
    ? `<button type="button" class="tree-toggle" data-role="toggle" aria-expanded="${tree.expanded}"
        aria-label="${tree.expanded ? "Collapse" : "Expand"} ${name} (${tree.children} ${noun})"
        title="${tree.children} ${noun}"><span class="caret"></span><span class="count">${tree.children}</span></button>`
    : tree.flat
      ? ""
      : '<span class="tree-spacer"></span>';
  const pin = `<button type="button" class="pin${tree.pinned ? " on" : ""}" data-role="pin"
    aria-pressed="${tree.pinned}" aria-label="${tree.pinned ? "Unpin" : "Pin"} ${name}"
    title="${tree.pinned ? "Unpin: stop keeping this run on top" : "Pin: keep this run on top of every page"}">${PIN_ICON}</button>`;
  return `<td class="name depth-${depth}" title="${name}"><span class="name-cell">${toggle}<a href="/runs/${run.id}">${name}</a>${pin}</span></td>`;
}

/** One run's row; `tree` says where it sits: { depth, children, expanded, pinned, flat }
 * (`flat`: no row of the table has nested runs, so names need no room for a toggle). */
export function rowHtml(run, columns, selected, tree = { depth: 0, children: 0, expanded: false, pinned: false }) {
  const cells = columns.map((column) => {
    if (column.kind === "param") {
      const value = run.params[column.key];
      return value === undefined
        ? `<td class="missing">—</td>`
        : `<td title="${escapeHtml(value)}">${escapeHtml(value.length > 80 ? `${value.slice(0, 80)}…` : value)}</td>`;
    }
    return metricCell(run, column);
  });
  const classes = [selected ? "selected" : "", tree.pinned ? "pinned" : "", tree.depth ? "nested" : ""];
  return `<tr data-id="${run.id}" id="${rowElementId(run.id)}" aria-selected="${Boolean(selected)}" class="${classes.join(" ").trim()}"${run.parent_run_id ? ` data-parent="${run.parent_run_id}"` : ""}>
    <td class="check"><input type="checkbox" aria-label="Select ${escapeHtml(run.name)}" ${selected ? "checked" : ""}></td>
    ${nameCell(run, tree)}
    <td data-cell="status">${statusBadge(run.status)}</td>
    <td class="muted" title="${escapeHtml(formatDate(run.started_at))}">${formatAgo(run.started_at)}</td>
    <td class="num" data-cell="duration">${formatDuration(runDuration(run))}</td>
    <td class="muted">${escapeHtml(run.user || "")}</td>
    ${cells.join("")}
  </tr>`;
}

/** The presets part of the column picker: each saved set of columns, and saving one. */
function presetsHtml(presets, active) {
  const items = presets
    .map(
      (preset) => `<li class="${preset.name === active ? "active" : ""}">
        <button type="button" class="btn small" data-role="apply-preset" data-name="${escapeHtml(preset.name)}"
          aria-pressed="${preset.name === active}">${escapeHtml(preset.name)}</button>
        <button type="button" class="icon-btn" data-role="delete-preset" data-name="${escapeHtml(preset.name)}"
          aria-label="Delete preset ${escapeHtml(preset.name)}" title="Delete this preset">×</button></li>`,
    )
    .join("");
  return `<div><h3>Presets</h3>
    ${items ? `<ul class="presets">${items}</ul>` : '<p class="subtle">Save the columns shown as a named preset to switch back to them.</p>'}
    <form class="preset-form" data-role="save-preset" autocomplete="off">
      <input type="text" name="name" required maxlength="60" aria-label="Preset name" placeholder="Preset name">
      <button type="submit" class="btn small">Save columns</button>
    </form>
    <button type="button" class="btn small" data-role="reset">Reset to default</button></div>`;
}

/** The column picker: params on/off, latest / min / max per metric, and presets. */
export function columnPickerHtml(chosen, paramKeys, metricKeys, presets = [], active = null) {
  const ids = new Set(chosen.map(columnId));
  const params = [...paramKeys].sort();
  const metrics = [...metricKeys].sort();
  const check = (id) => (ids.has(id) ? "checked" : "");
  return `
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
    ${presetsHtml(presets, active)}`;
}

