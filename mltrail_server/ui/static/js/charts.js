// Metric charts on uPlot (vendored, global `uPlot`), fed by the server's downsampling.
//
// A chart first asks for its whole series reduced to about one point per pixel, each bucket
// carrying its min and max (drawn as a faint band), so a 1,000,000-point metric costs ~1,000
// points. Dragging across the chart zooms: the visible step range is fetched again, now
// downsampled over that range alone (so detail appears as you zoom, down to every point), and
// merged in; a double click (or "Reset zoom") goes back. Live points are fetched from the last
// known step on, when the page's event stream says so.

import { api, metricNumber } from "./api.js";
import { chartSettings, onChartSettings } from "./chart-settings.js";
import { el } from "./dom.js";
import { applyStyles, escapeHtml, formatDuration, formatInteger, formatValue } from "./format.js";

const HEIGHT = 230;
const MAX_POINTS = 2000;
const MIN_POINTS = 200;
// A series of at most this many points gets a marker on each (one point draws no line).
const MARKED_POINTS = 20;
const X_TITLES = { step: "step", relative: "relative time", time: "wall-clock time" };
// Half the x range around a lone point, in the x axis's unit (steps or seconds).
const LONE_X_HALF_RANGE = { step: 1, relative: 1, time: 60 };
// Steps are whole numbers: no tick at step 0.5.
const STEP_INCREMENTS = Array.from({ length: 30 }, (_, i) => [1, 2, 5][i % 3] * 10 ** Math.floor(i / 3));

/** The y range: uPlot's padded one, or one around a single value (a final score). */
function yRange(u, min, max) {
  if (min == null || max == null) return [null, null];
  if (min === max) {
    if (chartSettings.log) return [min / 2, max * 2];
    const pad = Math.abs(min) * 0.1 || 1;
    return [min - pad, max + pad];
  }
  return chartSettings.log ? uPlot.rangeLog(min, max, 10, false) : uPlot.rangeNum(min, max, 0.1, true);
}

function drawnPoints(values) {
  let count = 0;
  for (const value of values) if (value !== null && value !== undefined) count += 1;
  return count;
}

/** One run's series of `key`, downsampled over an optional step range. */
export function runSource(runId, key) {
  return async (range, points) => {
    const result = await api(`/runs/${runId}/metrics/downsampled`, {
      query: { key, points, start_step: range?.start, end_step: range?.end },
    });
    return [{ runId, points: result.points, sampled: result.sampled, total: result.total }];
  };
}

/** Several runs' series of `key` over one shared grid of steps (`only`: a subset of them). */
export function compareSource(runIds, key) {
  return async (range, points, only) => {
    const result = await api("/metrics/history", {
      method: "POST",
      body: {
        run_ids: only || runIds,
        key,
        points,
        start_step: range?.start ?? null,
        end_step: range?.end ?? null,
      },
    });
    return result.series.map((item) => ({
      runId: item.run_id,
      points: item.points,
      sampled: item.sampled,
      total: item.total,
    }));
  };
}

function parsePoints(points) {
  return points.map((point) => ({
    step: point.step,
    time: point.timestamp,
    value: metricNumber(point.value),
    min: metricNumber(point.min),
    max: metricNumber(point.max),
  }));
}

/** TensorBoard's debiased exponential moving average; gaps stay gaps. */
export function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) {
      out[i] = value;
      continue;
    }
    last = last * weight + (1 - weight) * value;
    count += 1;
    out[i] = last / (1 - weight ** count);
  }
  return out;
}

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function tickValue(value) {
  if (value === null) return "";
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e5 || size < 1e-3)) return value.toExponential(1);
  return String(Number(value.toPrecision(4)));
}

// Charts load when they scroll into view, so a page with many metrics opens fast.
const waiting = new WeakMap();
const visibility = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      visibility.unobserve(entry.target);
      waiting.get(entry.target)?.load();
      waiting.delete(entry.target);
    }
  },
  { rootMargin: "200px" },
);

export class MetricChart {
  /**
   * @param parent where the chart's card goes
   * @param key the metric's key (the chart's title)
   * @param series [{runId, label, color}]
   * @param source function(range, points, onlyRunIds) -> [{runId, points, sampled, total}]
   * @param syncKey charts sharing it share their cursor
   */
  constructor(parent, { key, series, source, syncKey = "metrics" }) {
    this.key = key;
    this.source = source;
    this.syncKey = syncKey;
    this.series = new Map(
      series.map((item) => [item.runId, { ...item, full: [], detail: null, sampled: false, total: 0 }]),
    );
    this.view = null;
    this.loaded = false;
    this.uplot = null;
    this.busy = null;
    this.pendingTail = new Set();
    // The readout has a line of its own: on the title's line it squeezed the title.
    this.card = el(
      "div",
      { class: "card chart", "data-metric": key },
      el(
        "div",
        { class: "chart-head" },
        el("h3", { title: key }, key),
        el("span", { class: "sampled" }),
      ),
      el("div", { class: "readout" }),
      el("button", { type: "button", class: "btn small reset-zoom", hidden: true }, "Reset zoom"),
      el(
        "div",
        { class: "chart-body" },
        el("div", { class: "axis-title y", title: key }, key),
        el("div", { class: "chart-plot loading" }),
      ),
      el("div", { class: "axis-title x" }, X_TITLES[chartSettings.x] || "step"),
    );
    this.plot = this.card.querySelector(".chart-plot");
    this.readout = this.card.querySelector(".readout");
    this.xTitle = this.card.querySelector(".axis-title.x");
    this.card.querySelector(".reset-zoom").addEventListener("click", () => this.resetZoom());
    parent.append(this.card);
    this.stopListening = onChartSettings(() => this.render());
    this.resizer = new ResizeObserver(() => {
      if (this.uplot && this.plot.clientWidth && this.plot.clientWidth !== this.uplot.width) {
        this.uplot.setSize({ width: this.plot.clientWidth, height: HEIGHT });
      }
    });
    this.resizer.observe(this.plot);
  }

  /** Load once the chart is (nearly) on screen. */
  loadWhenVisible() {
    waiting.set(this.card, this);
    visibility.observe(this.card);
  }

  destroy() {
    visibility.unobserve(this.card);
    this.stopListening();
    this.resizer.disconnect();
    this.uplot?.destroy();
    this.card.remove();
  }

  /** About one point per pixel of the chart's width. */
  pointBudget() {
    const width = this.plot.clientWidth || 800;
    return Math.max(MIN_POINTS, Math.min(MAX_POINTS, Math.round(width)));
  }

  /** Fetch every series whole (downsampled) and draw. */
  async load() {
    return this._exclusive(async () => {
      const rows = await this.source(null, this.pointBudget());
      for (const row of rows) this._store(row, "full");
      this.loaded = true;
      this.view = null;
      for (const item of this.series.values()) item.detail = null;
      this.render();
    });
  }

  /** Show steps [start, end], fetched again at full resolution for that range. */
  async zoomTo(start, end) {
    if (!(end > start)) return;
    return this._exclusive(async () => {
      const rows = await this.source({ start, end }, this.pointBudget());
      this.view = { start, end };
      for (const item of this.series.values()) item.detail = [];
      for (const row of rows) this._store(row, "detail");
      this.render();
    });
  }

  resetZoom() {
    this.view = null;
    for (const item of this.series.values()) item.detail = null;
    this.render();
  }

  /** A point at `step` was logged to run `runId`: fetch what is new and append it. */
  async extend(runId, step) {
    const item = this.series.get(runId);
    if (!item) return;
    const last = item.full.length ? item.full[item.full.length - 1].step : null;
    if (last !== null && step <= last) return;
    if (this.busy) {
      this.pendingTail.add(runId);
      return;
    }
    await this._exclusive(async () => {
      const start = last === null ? null : last + 1;
      const rows = await this.source({ start, end: null }, this.pointBudget(), [runId]);
      for (const row of rows) {
        const stored = this.series.get(row.runId);
        if (!stored) continue;
        const fresh = parsePoints(row.points).filter((p) => last === null || p.step > last);
        stored.full = stored.full.concat(fresh);
        stored.total += row.total;
      }
      this.render();
    });
    // Re-downsample once appended points outgrow the chart, so it stays light.
    if (!this.view && item.full.length > 3 * this.pointBudget()) await this.load();
  }

  async _exclusive(work) {
    while (this.busy) await this.busy;
    this.plot.classList.add("loading");
    const mine = (async () => {
      try {
        await work();
      } catch (error) {
        this._showError(error);
      } finally {
        this.plot.classList.remove("loading");
      }
    })();
    this.busy = mine;
    await mine;
    if (this.busy === mine) this.busy = null;
    if (this.pendingTail.size) {
      const waiting = [...this.pendingTail];
      this.pendingTail.clear();
      for (const runId of waiting) this.extend(runId, Infinity);
    }
  }

  _store(row, slot) {
    const item = this.series.get(row.runId);
    if (!item) return;
    item[slot] = parsePoints(row.points);
    if (slot === "full") {
      item.sampled = row.sampled;
      item.total = row.total;
    }
  }

  _showError(error) {
    this.uplot?.destroy();
    this.uplot = null;
    this.plot.innerHTML = `<div class="chart-error">${escapeHtml(error.message)}</div>`;
  }

  /** The points to draw for one series: the whole series, with the zoomed range's detail. */
  _points(item) {
    if (!this.view || !item.detail) return item.full;
    const { start, end } = this.view;
    return [
      ...item.full.filter((p) => p.step < start),
      ...item.detail,
      ...item.full.filter((p) => p.step > end),
    ];
  }

  _x(point, t0) {
    if (chartSettings.x === "time") return point.time / 1000;
    if (chartSettings.x === "relative") return (point.time - t0) / 1000;
    return point.step;
  }

  /** Per series: x, value, min, max columns, sorted by x, with what cannot be drawn as null. */
  _columns(item) {
    let points = this._points(item);
    const t0 = item.full.length ? Math.min(...item.full.slice(0, 50).map((p) => p.time)) : 0;
    const rows = points.map((p) => [this._x(p, t0), p.value, p.min, p.max, p.step]);
    if (chartSettings.x !== "step") rows.sort((a, b) => a[0] - b[0]);
    const drawable = (v) =>
      v === null || !Number.isFinite(v) || (chartSettings.log && v <= 0) ? null : v;
    return {
      x: rows.map((r) => r[0]),
      y: rows.map((r) => drawable(r[1])),
      lo: rows.map((r) => drawable(r[2])),
      hi: rows.map((r) => drawable(r[3])),
      steps: rows.map((r) => r[4]),
    };
  }

  render() {
    const items = [...this.series.values()];
    const columns = items.map((item) => this._columns(item));
    this.columns = columns;
    const total = items.reduce((sum, item) => sum + item.total, 0);
    const sampled = items.some((item) => item.sampled);
    this.card.querySelector(".sampled").textContent = total
      ? `${formatInteger(total)} pts${sampled ? " · min/max buckets" : ""}`
      : "";
    this.card.querySelector(".reset-zoom").hidden = !this.view;
    this.xTitle.textContent = X_TITLES[chartSettings.x] || "step";
    if (!columns.some((c) => c.x.length)) {
      this.uplot?.destroy();
      this.uplot = null;
      this.plot.innerHTML = `<div class="chart-empty">No points yet</div>`;
      return;
    }
    const weight = Number(chartSettings.smoothing) || 0;
    const single = items.length === 1;
    const series = [{}];
    const tables = [];
    const bands = [];
    items.forEach((item, index) => {
      const c = columns[index];
      const table = [c.x];
      if (single) {
        table.push(c.lo, c.hi);
        series.push(
          { label: "min", stroke: "transparent", points: { show: false } },
          { label: "max", stroke: "transparent", points: { show: false } },
        );
        bands.push({ series: [2, 1], fill: withAlpha(item.color, 0.22) });
      }
      table.push(c.y, smooth(c.y, weight));
      const marked = drawnPoints(c.y) <= MARKED_POINTS;
      series.push(
        {
          label: item.label,
          stroke: weight ? withAlpha(item.color, 0.28) : item.color,
          width: weight ? 1 : 1.5,
          points: marked ? { show: true, size: 7, fill: item.color } : { show: false },
        },
        {
          label: `${item.label} (smoothed)`,
          stroke: item.color,
          width: 2,
          show: weight > 0,
          points: { show: false },
        },
      );
      tables.push(table);
    });
    const data = single ? tables[0] : uPlot.join(tables);
    this.seriesMeta = items;
    this.plot.innerHTML = "";
    this.uplot?.destroy();
    this.uplot = new uPlot(this._options(series, bands, single), data, this.plot);
    if (this.view) this._applyView();
    else this._centreLoneX(data[0]);
  }

  /** uPlot puts a lone x value (a metric logged once) at the plot's left edge, on an axis
   * barely wider than nothing: centre it on a range of a few steps (or a minute) instead. */
  _centreLoneX(xs) {
    const drawn = xs.filter((x) => x !== null && x !== undefined);
    if (!drawn.length || drawn.some((x) => x !== drawn[0])) return;
    const half = LONE_X_HALF_RANGE[chartSettings.x] || 1;
    this.uplot.setScale("x", { min: drawn[0] - half, max: drawn[0] + half });
  }

  _applyView() {
    if (chartSettings.x === "step") {
      this.uplot.setScale("x", { min: this.view.start, max: this.view.end });
      return;
    }
    let min = Infinity;
    let max = -Infinity;
    for (const c of this.columns) {
      c.steps.forEach((step, i) => {
        if (step >= this.view.start && step <= this.view.end) {
          min = Math.min(min, c.x[i]);
          max = Math.max(max, c.x[i]);
        }
      });
    }
    if (max > min) this.uplot.setScale("x", { min, max });
  }

  /** The step range shown between x values `from` and `to`. */
  _stepRange(from, to) {
    if (chartSettings.x === "step") return { start: Math.ceil(from), end: Math.floor(to) };
    let start = Infinity;
    let end = -Infinity;
    for (const c of this.columns) {
      c.x.forEach((x, i) => {
        if (x >= from && x <= to) {
          start = Math.min(start, c.steps[i]);
          end = Math.max(end, c.steps[i]);
        }
      });
    }
    return end > start ? { start, end } : null;
  }

  _formatX(x) {
    if (x === null || x === undefined) return "";
    if (chartSettings.x === "time") return new Date(x * 1000).toLocaleString();
    if (chartSettings.x === "relative") return formatDuration(x * 1000);
    return `step ${formatInteger(x)}`;
  }

  _options(series, bands, single) {
    const axis = cssVar("--chart-axis");
    const grid = cssVar("--chart-grid");
    const font = `11px ${cssVar("--font") || "sans-serif"}`;
    const relative = chartSettings.x === "relative";
    return {
      width: this.plot.clientWidth || 600,
      height: HEIGHT,
      padding: [10, 12, 0, 0],
      legend: { show: false },
      series,
      bands,
      scales: {
        x: { time: chartSettings.x === "time" },
        y: { distr: chartSettings.log ? 3 : 1, range: yRange },
      },
      axes: [
        {
          stroke: axis,
          font,
          size: 34,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1, size: 4 },
          space: 70,
          ...(chartSettings.x === "step" ? { incrs: STEP_INCREMENTS } : {}),
          values: relative ? (u, values) => values.map((v) => formatDuration(v * 1000)) : undefined,
        },
        {
          stroke: axis,
          font,
          size: 58,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1, size: 4 },
          values: (u, values) => values.map(tickValue),
        },
      ],
      cursor: {
        sync: { key: this.syncKey },
        drag: { x: true, y: false, setScale: false },
        points: { size: 7 },
        bind: {
          dblclick: () => () => {
            this.resetZoom();
            return null;
          },
        },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 4) {
              const from = u.posToVal(u.select.left, "x");
              const to = u.posToVal(u.select.left + u.select.width, "x");
              const range = this._stepRange(from, to);
              if (range) this.zoomTo(range.start, range.end);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [(u) => this._showReadout(u, single)],
      },
    };
  }

  _showReadout(u, single) {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined) {
      this.readout.innerHTML = "";
      return;
    }
    const x = this._formatX(u.data[0][idx]);
    const weight = Number(chartSettings.smoothing) || 0;
    if (single) {
      const value = u.data[weight ? 4 : 3][idx];
      const lo = u.data[1][idx];
      const hi = u.data[2][idx];
      const range = lo !== hi && lo !== null && hi !== null ? ` · ${formatValue(lo)} – ${formatValue(hi)}` : "";
      this.readout.textContent = `${x} · ${formatValue(value)}${range}`;
      return;
    }
    const chips = this.seriesMeta.slice(0, 8).map((item, i) => {
      const value = u.data[1 + 2 * i + (weight ? 1 : 0)][idx];
      return `<span class="chip"><span class="swatch" data-color="${escapeHtml(item.color)}"></span>${formatValue(value ?? null)}</span>`;
    });
    this.readout.innerHTML = `${escapeHtml(x)}${chips.join("")}`;
    applyStyles(this.readout);
  }
}
