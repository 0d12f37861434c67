// The run page's Media section: what the SDK's log_image, log_table and log_histogram stored
// (listed in the run's media/index.json). Per key: images with a step slider and a strip of
// neighbouring steps, a table a page at a time at the chosen step, a histogram as a heat map
// over steps.

import { api } from "./api.js";
import { artifactUrl } from "./artifact-files.js";
import { parquetSource } from "./artifact-preview.js";
import { el } from "./dom.js";
import { formatInteger } from "./format.js";
import { histogramHeatmap } from "./histogram-heatmap.js";
import { pagedTable } from "./paged-table.js";

const INDEX = "media/index.json";
// A heat map draws at most this many steps (evenly spread, the last one always in).
const MAX_HISTOGRAM_STEPS = 200;
const STRIP = 9;
const PARALLEL_FETCHES = 6;

function byKey(items) {
  const groups = new Map();
  for (const item of items) {
    const id = `${item.kind}\u0000${item.key}`;
    if (!groups.has(id)) groups.set(id, { kind: item.kind, key: item.key, items: [] });
    groups.get(id).items.push(item);
  }
  for (const group of groups.values()) group.items.sort((a, b) => a.step - b.step);
  const order = Object.keys(CARDS);
  return [...groups.values()].sort(
    (a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.key.localeCompare(b.key),
  );
}

function card(group, ...body) {
  return el(
    "div",
    { class: "card media-card", "data-media-key": group.key, "data-media-kind": group.kind },
    el(
      "div",
      { class: "card-head" },
      el("h3", { class: "mono" }, group.key),
      el("span", { class: "count" }, `${group.kind} · ${formatInteger(group.items.length)} step${group.items.length === 1 ? "" : "s"}`),
    ),
    el("div", { class: "card-body" }, ...body),
  );
}

/** A range input over the group's steps; `onPick(index)` when it moves. */
function stepSlider(group, onPick) {
  const label = el("span", { class: "step-label", "data-role": "step-label" });
  const slider = el("input", {
    type: "range",
    min: 0,
    max: group.items.length - 1,
    step: 1,
    value: group.items.length - 1,
    "aria-label": `Step of ${group.key}`,
    "data-role": "step-slider",
  });
  const pick = (index) => {
    slider.value = String(index);
    label.textContent = `step ${formatInteger(group.items[index].step)}`;
    onPick(index);
  };
  slider.addEventListener("input", () => pick(Number(slider.value)));
  return { control: el("div", { class: "step-control" }, slider, label), pick, slider };
}

function imageCard(runId, group) {
  const image = el("img", { class: "media-image", alt: "", "data-role": "media-image" });
  const caption = el("div", { class: "media-caption", "data-role": "media-caption" });
  const strip = el("div", { class: "media-strip", "data-role": "media-strip" });
  let current = -1;
  const show = (index) => {
    if (index === current) return;
    current = index;
    const item = group.items[index];
    image.src = artifactUrl(runId, item.path);
    image.alt = `${group.key} at step ${item.step}`;
    caption.textContent = item.caption || "";
    const from = Math.max(0, Math.min(index - Math.floor(STRIP / 2), group.items.length - STRIP));
    strip.replaceChildren(
      ...group.items.slice(from, from + STRIP).map((near, i) =>
        el(
          "button",
          {
            type: "button",
            class: "media-thumb",
            "aria-pressed": from + i === index ? "true" : "false",
            "data-index": from + i,
            title: `step ${near.step}`,
          },
          el("img", { src: artifactUrl(runId, near.path), alt: `step ${near.step}` }),
        ),
      ),
    );
  };
  const slider = stepSlider(group, show);
  strip.addEventListener("click", (event) => {
    const thumb = event.target.closest("[data-index]");
    if (thumb) slider.pick(Number(thumb.dataset.index));
  });
  slider.pick(group.items.length - 1);
  return card(group, el("div", { class: "media-frame" }, image), caption, slider.control, strip);
}

function tableCard(runId, group) {
  const box = el("div", { class: "media-table", "data-role": "media-table" });
  const show = (index) =>
    pagedTable(box, parquetSource(runId, group.items[index].path)).catch((error) => {
      box.replaceChildren(el("p", { class: "subtle" }, `No preview: ${error.message}`));
    });
  const slider = stepSlider(group, show);
  slider.pick(group.items.length - 1);
  return card(group, group.items.length > 1 ? slider.control : null, box);
}

function sampled(items) {
  if (items.length <= MAX_HISTOGRAM_STEPS) return items;
  const every = (items.length - 1) / (MAX_HISTOGRAM_STEPS - 1);
  return Array.from({ length: MAX_HISTOGRAM_STEPS }, (_, i) => items[Math.round(i * every)]);
}

async function inParallel(items, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FETCHES, items.length) }, worker));
  return results;
}

function histogramCard(runId, group) {
  const box = el("div", { class: "media-histogram" }, el("span", { class: "skeleton" }));
  const shown = sampled(group.items);
  inParallel(shown, (item) => api(`/runs/${runId}/artifacts/${item.path.split("/").map(encodeURIComponent).join("/")}`))
    .then((histograms) => {
      const steps = histograms.map((h, i) => ({ ...h, step: shown[i].step }));
      box.replaceChildren(histogramHeatmap(steps));
      if (shown.length < group.items.length) {
        box.append(el("p", { class: "subtle" }, `${formatInteger(shown.length)} of ${formatInteger(group.items.length)} steps drawn, evenly spread.`));
      }
    })
    .catch((error) => box.replaceChildren(el("p", { class: "subtle" }, `No preview: ${error.message}`)));
  return card(group, box);
}

/** The run's media index, or null without one. Looked up by listing, so that a run without
 * media costs no 404 (which the browser would report as an error). */
async function readIndex(runId) {
  const folder = INDEX.split("/")[0];
  const root = await api(`/runs/${runId}/artifacts`).catch(() => ({ files: [] }));
  if (!root.files.some((file) => file.is_dir && file.path === folder)) return null;
  const inside = await api(`/runs/${runId}/artifacts`, { query: { path: folder } });
  if (!inside.files.some((file) => !file.is_dir && file.path === INDEX)) return null;
  return api(`/runs/${runId}/artifacts/${INDEX}`);
}

const CARDS = { image: imageCard, table: tableCard, histogram: histogramCard };

/** Show the run's media in `section` (left hidden when the run has none). */
export async function showMedia(section, runId) {
  let index;
  try {
    index = await readIndex(runId);
  } catch (error) {
    section.hidden = false;
    section.replaceChildren(el("p", { class: "subtle" }, `Media: ${error.message}`));
    return;
  }
  if (!index) return;
  const groups = byKey((index.items || []).filter((item) => CARDS[item.kind]));
  if (!groups.length) return;
  section.replaceChildren(
    el("h2", { class: "charts-section" }, "Media"),
    el("div", { class: "media-grid" }, groups.map((group) => CARDS[group.kind](runId, group))),
  );
  section.hidden = false;
}
