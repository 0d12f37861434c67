// The model registry: registered models a page at a time, searchable with MLflow's filter
// language (the server's error shown under the box when a filter does not parse).

import { ApiError, api, toast } from "./api.js";
import { el } from "./dom.js";
import { formatAgo, formatDate, formatInteger } from "./format.js";
import { aliasChips, modelHref } from "./registry.js";

const PER_PAGE = 50;
const table = document.querySelector("#models tbody");
const filterInput = document.getElementById("filter");
const filterError = document.getElementById("filter-error");
const pager = document.getElementById("pager");
const empty = document.getElementById("empty");
const url = new URL(location.href);
const state = {
  filter: url.searchParams.get("filter") || "",
  page: Number(url.searchParams.get("page")) || 1,
};

function row(model) {
  const latest = model.latest_version;
  return el(
    "tr",
    { "data-name": model.name },
    el("td", { class: "name" }, el("a", { href: modelHref(model.name) }, model.name)),
    el("td", { class: "num latest" }, latest === null ? "—" : `v${latest}`),
    el("td", { class: "wrap" }, aliasChips(model.aliases)),
    el("td", { class: "desc", title: model.description || "" }, model.description || ""),
    el("td", {}, model.owner),
    el("td", { class: "num" }, formatInteger(model.versions_count)),
    el("td", { class: "muted", title: formatDate(model.updated_at) }, formatAgo(model.updated_at)),
  );
}

function syncUrl() {
  const next = new URL(location.href);
  next.search = "";
  if (state.filter) next.searchParams.set("filter", state.filter);
  if (state.page > 1) next.searchParams.set("page", state.page);
  history.replaceState(null, "", next);
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
    snippet.replaceChildren(
      `${state.filter}\n${" ".repeat(Number(match[1]))}`,
      el("span", { class: "caret" }, "^"),
    );
  }
}

async function load() {
  let result;
  try {
    result = await api("/models", {
      query: { filter: state.filter, page: state.page, per_page: PER_PAGE },
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && error.detail.startsWith("filter")) {
      showFilterError(error.detail.replace(/^filter:\s*/, ""));
      table.replaceChildren();
      empty.hidden = true;
      pager.hidden = true;
      document.getElementById("summary").textContent = "";
      return;
    }
    throw error;
  }
  if (result.pages && state.page > result.pages) {
    state.page = result.pages;
    return load();
  }
  showFilterError(null);
  syncUrl();
  table.replaceChildren(...result.items.map(row));
  empty.hidden = result.total > 0;
  empty.replaceChildren(
    ...(state.filter
      ? ["No model matches this filter."]
      : [
          "No registered models yet. Register one from code: ",
          el("code", {}, 'mlflow.register_model("runs:/<run id>/model", "my-model")'),
        ]),
  );
  const noun = result.total === 1 ? "model" : "models";
  document.getElementById("summary").textContent =
    `${formatInteger(result.total)} ${state.filter ? `matching ${noun}` : `registered ${noun}`}`;
  pager.hidden = result.pages <= 1;
  pager.querySelector("[data-role=label]").textContent = `Page ${state.page} of ${result.pages}`;
  pager.querySelector("[data-role=prev]").disabled = state.page <= 1;
  pager.querySelector("[data-role=next]").disabled = state.page >= result.pages;
}

function reload() {
  load().catch((error) => toast(error.message, "error"));
}

document.getElementById("filter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.filter = filterInput.value.trim();
  state.page = 1;
  reload();
});
filterInput.addEventListener("search", () => {
  if (!filterInput.value && state.filter) {
    state.filter = "";
    state.page = 1;
    reload();
  }
});
pager.querySelector("[data-role=prev]").addEventListener("click", () => {
  state.page -= 1;
  reload();
});
pager.querySelector("[data-role=next]").addEventListener("click", () => {
  state.page += 1;
  reload();
});

filterInput.value = state.filter;
reload();
