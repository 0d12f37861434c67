// The workspace's metric charts: one SVG per metric, one path per line (a run, or a group's
// mean with its band). Few points get a circle each (hover shows its title); many lines get
// one transparent hover area per chart instead, which finds the line nearest the pointer, so
// 500 runs cost 500 paths rather than 150,000 circles.

import { escapeHtml, formatValue } from "./format.js";

const W = 420;
const H = 200;
const PAD = 32;
// Above this many points in a chart, no per-point circles: the hover area answers instead.
const MAX_CIRCLES = 1500;

/** What the hover area needs of each drawn chart, by its element. */
const drawn = new WeakMap();

function pathOf(points, sx, sy, field) {
  let d = "";
  for (let i = 0; i < points.length; i++) {
    d += `${i ? "L" : "M"}${sx(points[i].step).toFixed(1)},${sy(points[i][field]).toFixed(1)}`;
  }
  return d;
}

function bandPath(points, sx, sy) {
  const upper = pathOf(points, sx, sy, "high");
  const lower = [...points].reverse().map((p) => `L${sx(p.step).toFixed(1)},${sy(p.low).toFixed(1)}`).join("");
  return `${upper}${lower}Z`;
}

function circleTitle(line, p) {
  if (!line.band) return `${escapeHtml(line.name)} · step ${p.step}: ${formatValue(p.value)}`;
  const band =
    line.band === "std"
      ? ` (±1 std ${formatValue(p.low)} – ${formatValue(p.high)})`
      : ` (min ${formatValue(p.low)}, max ${formatValue(p.high)})`;
  return `${escapeHtml(line.name)} · step ${p.step}: ${formatValue(p.value)}${band}`;
}

function extent(lines) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const line of lines) {
    for (const p of line.points) {
      x0 = Math.min(x0, p.step);
      x1 = Math.max(x1, p.step);
      y0 = Math.min(y0, p.value, p.low ?? p.value);
      y1 = Math.max(y1, p.value, p.high ?? p.value);
    }
  }
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  return { x0, x1, y0, y1 };
}

/**
 * One chart's HTML. `lines`: [{name, color, band? ("minmax" | "std"), points: [{step, value, low?,
 * high?}]}], lines without points left out.
 */
export function lineChart(key, lines) {
  lines = lines.filter((line) => line.points.length);
  if (!lines.length) return "";
  const { x0, x1, y0, y1 } = extent(lines);
  const sx = (s) => PAD + ((s - x0) / (x1 - x0)) * (W - 2 * PAD);
  const sy = (v) => H - PAD - ((v - y0) / (y1 - y0)) * (H - 2 * PAD);
  const total = lines.reduce((sum, line) => sum + line.points.length, 0);
  const circles = total <= MAX_CIRCLES;
  const body = lines
    .map((line) => {
      const band = line.band
        ? `<path class="band" fill="${line.color}" fill-opacity="0.18" stroke="none" d="${bandPath(line.points, sx, sy)}"/>`
        : "";
      const dots = circles
        ? line.points
            .map(
              (p) =>
                `<circle class="point" r="3" cx="${sx(p.step).toFixed(1)}" cy="${sy(p.value).toFixed(1)}" fill="${line.color}" data-step="${p.step}" data-value="${p.value}"${
                  line.band ? ` data-low="${p.low}" data-high="${p.high}"` : ""
                }><title>${circleTitle(line, p)}</title></circle>`,
            )
            .join("")
        : "";
      return `<g class="series" data-series="${escapeHtml(line.name)}">${band}<path class="line" fill="none" stroke="${line.color}" stroke-width="1.5" d="${pathOf(line.points, sx, sy, "value")}"/>${dots}</g>`;
    })
    .join("");
  const hover = circles
    ? ""
    : `<line class="hover-rule" y1="${PAD}" y2="${H - PAD}" stroke="currentColor" stroke-opacity="0.4" visibility="hidden"/>
       <rect class="hover-area" x="${PAD}" y="${PAD}" width="${W - 2 * PAD}" height="${H - 2 * PAD}" fill="transparent"/>`;
  const legend = lines
    .map((l) => `<span class="legend-entry" data-series="${escapeHtml(l.name)}"><span class="swatch" data-color="${l.color}"></span>${escapeHtml(l.name)}</span>`)
    .join(" ");
  return `<div class="card workspace-chart" data-metric="${escapeHtml(key)}">
    <h3>${escapeHtml(key)}</h3>
    <svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(key)}">
      <text x="${PAD}" y="${PAD - 8}" font-size="10">${formatValue(y1)}</text>
      <text x="${PAD}" y="${H - 8}" font-size="10">${formatValue(y0)} · step ${x0}–${x1}</text>${body}${hover}</svg>
    <div class="hover-text subtle" data-role="hover"></div>
    <div class="legend">${legend}</div></div>`;
}

/** Remember what `charts` (the container) drew, so that its hover areas can answer. */
export function rememberLines(container, linesByKey) {
  for (const chart of container.querySelectorAll(".workspace-chart")) {
    const lines = linesByKey.get(chart.dataset.metric)?.filter((line) => line.points.length);
    if (lines) drawn.set(chart, { lines, ...extent(lines) });
  }
}

/** The point of `points` (sorted by step) whose step is nearest `step`. */
function nearest(points, step) {
  let [lo, hi] = [0, points.length - 1];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].step < step) lo = mid + 1;
    else hi = mid;
  }
  const before = points[lo - 1];
  return before && step - before.step < points[lo].step - step ? before : points[lo];
}

/** Bring one series of `chart` forward (the others fade), or none with `name` null. */
function focusSeries(chart, name) {
  for (const path of chart.querySelectorAll(".series.hovered")) path.classList.remove("hovered");
  chart.classList.toggle("focused", name !== null);
  if (name !== null) chart.querySelector(`.series[data-series="${CSS.escape(name)}"]`)?.classList.add("hovered");
  chart.querySelector("[data-role=hover]").textContent = name ?? "";
}

function onHover(event) {
  const entry = event.target.closest?.(".workspace-chart .legend-entry");
  if (entry) {
    focusSeries(entry.closest(".workspace-chart"), entry.dataset.series);
    return;
  }
  const area = event.target.closest?.(".hover-area");
  if (!area) return;
  const chart = area.closest(".workspace-chart");
  const state = drawn.get(chart);
  if (!state) return;
  const svg = area.ownerSVGElement;
  const box = svg.getBoundingClientRect();
  const x = ((event.clientX - box.left) / box.width) * W;
  const y = ((event.clientY - box.top) / box.height) * H;
  const step = state.x0 + ((x - PAD) / (W - 2 * PAD)) * (state.x1 - state.x0);
  const value = state.y0 + ((H - PAD - y) / (H - 2 * PAD)) * (state.y1 - state.y0);
  let best = null;
  for (const line of state.lines) {
    const p = nearest(line.points, step);
    const distance = Math.abs(p.value - value);
    if (!best || distance < best.distance) best = { line, p, distance };
  }
  const rule = svg.querySelector(".hover-rule");
  const ruleX = PAD + ((best.p.step - state.x0) / (state.x1 - state.x0)) * (W - 2 * PAD);
  rule.setAttribute("x1", ruleX.toFixed(1));
  rule.setAttribute("x2", ruleX.toFixed(1));
  rule.setAttribute("visibility", "visible");
  for (const path of svg.querySelectorAll(".series.hovered")) path.classList.remove("hovered");
  svg.querySelector(`.series[data-series="${CSS.escape(best.line.name)}"]`)?.classList.add("hovered");
  chart.querySelector("[data-role=hover]").textContent =
    `${best.line.name} · step ${best.p.step}: ${formatValue(best.p.value)}`;
}

function onLeave(event) {
  const entry = event.target.closest?.(".workspace-chart .legend-entry");
  if (entry && !entry.contains(event.relatedTarget)) {
    focusSeries(entry.closest(".workspace-chart"), null);
    return;
  }
  const chart = event.target.closest?.(".workspace-chart");
  if (!chart || !event.target.classList?.contains("hover-area")) return;
  chart.querySelector(".hover-rule")?.setAttribute("visibility", "hidden");
  for (const path of chart.querySelectorAll(".series.hovered")) path.classList.remove("hovered");
  chart.querySelector("[data-role=hover]").textContent = "";
}

/** Answer the hover areas of every chart `container` will hold. */
export function listenForHover(container) {
  container.addEventListener("mousemove", onHover);
  container.addEventListener("mouseout", onLeave);
}
