// The chart controls shared by every chart of a page (x axis, log scale, smoothing),
// remembered by the browser.

const SETTINGS_KEY = "exptrack.chartSettings";

/** Page-wide chart settings (x axis, log scale, smoothing), remembered by the browser. */
export const chartSettings = { x: "step", log: false, smoothing: 0 };
try {
  Object.assign(chartSettings, JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}"));
} catch {
  localStorage.removeItem(SETTINGS_KEY);
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
}
