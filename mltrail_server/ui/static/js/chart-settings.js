// The controls shared by every chart of a page (x axis, log scale, smoothing), remembered by
// the browser and carried by the page's address, so a link shows the charts as they were:
// settings in the address win over the remembered ones.

import { hasAnyParam, readParam, writeParams } from "./url-state.js";

const SETTINGS_KEY = "exptrack.chartSettings";
const DEFAULTS = { x: "step", log: false, smoothing: 0 };
const X_AXES = ["step", "relative", "time"];
// The query params; the address names only the settings that differ from the defaults.
const PARAMS = { x: "x", log: "log", smoothing: "smooth" };

/** Page-wide chart settings (x axis, log scale, smoothing). */
export const chartSettings = { ...DEFAULTS };
try {
  Object.assign(chartSettings, valid(JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}")));
} catch {
  localStorage.removeItem(SETTINGS_KEY);
}
if (hasAnyParam(Object.values(PARAMS))) Object.assign(chartSettings, DEFAULTS, fromUrl());

/** The known settings of `settings`, each only if its value is one the charts take. */
function valid(settings) {
  const known = {};
  if (X_AXES.includes(settings?.x)) known.x = settings.x;
  if (typeof settings?.log === "boolean") known.log = settings.log;
  const smoothing = Number(settings?.smoothing);
  if (Number.isFinite(smoothing) && smoothing >= 0 && smoothing < 1) known.smoothing = smoothing;
  return known;
}

function fromUrl() {
  const smooth = readParam(PARAMS.smoothing);
  return valid({
    x: readParam(PARAMS.x),
    log: { 1: true, true: true, 0: false, false: false }[readParam(PARAMS.log)],
    smoothing: smooth === null ? undefined : smooth,
  });
}

/** Write the settings into the page's address (a page with chart controls calls it). */
function syncUrl() {
  writeParams({
    [PARAMS.x]: chartSettings.x === DEFAULTS.x ? null : chartSettings.x,
    [PARAMS.log]: chartSettings.log ? "1" : null,
    [PARAMS.smoothing]: Number(chartSettings.smoothing) ? String(chartSettings.smoothing) : null,
  });
}

const listeners = new Set();

/** Call `listener` after every change; returns what stops it. */
export function onChartSettings(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function setChartSettings(patch) {
  Object.assign(chartSettings, patch);
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(chartSettings));
  syncUrl();
  for (const listener of listeners) listener();
}

/** The controls shared by every chart of the page. */
export function renderChartToolbar(element) {
  element.innerHTML = `
    <div class="control">X axis
      <div class="segmented" data-setting="x">
        <button type="button" data-value="step">Step</button>
        <button type="button" data-value="relative">Relative</button>
        <button type="button" data-value="time">Wall clock</button>
      </div>
    </div>
    <div class="control">Y axis
      <div class="segmented" data-setting="log">
        <button type="button" data-value="false">Linear</button>
        <button type="button" data-value="true">Log</button>
      </div>
    </div>
    <label class="control">Smoothing
      <input type="range" min="0" max="0.99" step="0.01" name="smoothing">
      <output></output>
    </label>
    <span class="spacer"></span>
    <span class="hint-inline">Drag to zoom, double-click to reset</span>`;
  const sync = () => {
    for (const group of element.querySelectorAll(".segmented")) {
      const current = String(chartSettings[group.dataset.setting]);
      for (const button of group.children) {
        button.setAttribute("aria-pressed", String(button.dataset.value === current));
      }
    }
    element.querySelector("input[name=smoothing]").value = chartSettings.smoothing;
    element.querySelector("output").textContent = Number(chartSettings.smoothing).toFixed(2);
  };
  element.addEventListener("click", (event) => {
    const button = event.target.closest(".segmented button");
    if (!button) return;
    const setting = button.parentElement.dataset.setting;
    const value = setting === "log" ? button.dataset.value === "true" : button.dataset.value;
    setChartSettings({ [setting]: value });
    sync();
  });
  const slider = element.querySelector("input[name=smoothing]");
  slider.addEventListener("input", () => {
    element.querySelector("output").textContent = Number(slider.value).toFixed(2);
  });
  slider.addEventListener("change", () => setChartSettings({ smoothing: Number(slider.value) }));
  sync();
  syncUrl();
}
