// A registered model: description, tags, aliases (alias → version) and its versions, newest
// first, each with its status, stage, aliases, source run and logged model.

import { api, toast } from "./api.js";
import { el } from "./dom.js";
import { formatDate, formatInteger } from "./format.js";
import { aliasChips, runLink, stageText, versionStatus } from "./registry.js";

const PER_PAGE = 50;
const name = document.getElementById("model-page").dataset.modelName;
const encoded = encodeURIComponent(name);
const pager = document.getElementById("pager");
let page = 1;

function kvRows(entries, empty) {
  if (!entries.length) return [el("tr", {}, el("td", { class: "subtle", colspan: 2 }, empty))];
  return entries
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => el("tr", { "data-key": key }, el("td", {}, key), el("td", {}, value)));
}

function renderModel(model) {
  document.title = `${model.name} · Models · mltrail`;
  document.getElementById("crumb").textContent = model.name;
  document.getElementById("title").textContent = model.name;
  document.getElementById("description").textContent = model.description || "";
  document.getElementById("meta").replaceChildren(
    el("span", {}, "Owner ", el("b", {}, model.owner)),
    el("span", {}, "Latest ", el("b", {}, model.latest_version === null ? "—" : `v${model.latest_version}`)),
    el("span", {}, "Created ", el("b", {}, formatDate(model.created_at))),
    el("span", {}, "Updated ", el("b", {}, formatDate(model.updated_at))),
  );
  const aliases = Object.entries(model.aliases).map(([alias, version]) => [`@${alias}`, `v${version}`]);
  document.querySelector("#aliases tbody").replaceChildren(...kvRows(aliases, "None"));
  document.getElementById("aliases-count").textContent = aliases.length || "";
  const tags = Object.entries(model.tags);
  document.querySelector("#tags tbody").replaceChildren(...kvRows(tags, "None"));
  document.getElementById("tags-count").textContent = tags.length || "";
}

function versionRow(version) {
  return el(
    "tr",
    { "data-version": version.version },
    el("td", { class: "num name", title: version.source }, `v${version.version}`),
    el("td", {}, versionStatus(version.status)),
    el("td", {}, stageText(version.stage)),
    el("td", { class: "wrap" }, aliasChips(version.aliases)),
    el("td", { class: "run" }, runLink(version.run_id)),
    el(
      "td",
      { class: "mono logged-model", title: version.logged_model_id },
      version.logged_model_id || el("span", { class: "subtle" }, "—"),
    ),
    el("td", { class: "muted" }, formatDate(version.created_at)),
    el("td", { class: "desc", title: version.description || "" }, version.description || ""),
  );
}

async function loadVersions() {
  const result = await api(`/models/${encoded}/versions`, { query: { page, per_page: PER_PAGE } });
  if (result.pages && page > result.pages) {
    page = result.pages;
    return loadVersions();
  }
  document.querySelector("#versions tbody").replaceChildren(...result.items.map(versionRow));
  document.getElementById("no-versions").hidden = result.total > 0;
  document.getElementById("versions-count").textContent = result.total ? formatInteger(result.total) : "";
  pager.hidden = result.pages <= 1;
  pager.querySelector("[data-role=label]").textContent = `Page ${page} of ${result.pages}`;
  pager.querySelector("[data-role=prev]").disabled = page <= 1;
  pager.querySelector("[data-role=next]").disabled = page >= result.pages;
}

pager.querySelector("[data-role=prev]").addEventListener("click", () => {
  page -= 1;
  loadVersions().catch((error) => toast(error.message, "error"));
});
pager.querySelector("[data-role=next]").addEventListener("click", () => {
  page += 1;
  loadVersions().catch((error) => toast(error.message, "error"));
});

async function start() {
  let model;
  try {
    model = await api(`/models/${encoded}`);
  } catch (error) {
    if (error.status === 404) {
      document.getElementById("title").textContent = "Model not found";
      document.getElementById("crumb").textContent = name;
      document.getElementById("description").textContent =
        "No registered model has this name. It may have been renamed or deleted.";
      document.getElementById("model-body").hidden = true;
      return;
    }
    toast(error.message, "error");
    return;
  }
  renderModel(model);
  await loadVersions();
}

start().catch((error) => toast(error.message, "error"));
