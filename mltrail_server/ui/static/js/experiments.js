// The experiments page: list (a page at a time), create, rename inline, delete.

import { api, confirmDialog, toast } from "./api.js";
import { escapeHtml, formatAgo, formatDate, formatInteger } from "./format.js";
import { mlflowLinkTarget } from "./mlflow-links.js";

const PER_PAGE = 50;
const table = document.querySelector("#experiments tbody");
const form = document.getElementById("create-form");
const formError = form.querySelector("[data-role=error]");
const pager = document.getElementById("pager");
let page = 1;
let experiments = [];

function row(experiment) {
  return `<tr data-id="${experiment.id}">
    <td class="name"><a href="/experiments/${experiment.id}">${escapeHtml(experiment.name)}</a></td>
    <td class="desc" title="${escapeHtml(experiment.description || "")}">${escapeHtml(experiment.description || "")}</td>
    <td>${escapeHtml(experiment.owner)}</td>
    <td class="num">${formatInteger(experiment.run_count)}</td>
    <td class="muted">${formatDate(experiment.created_at)}</td>
    <td class="muted">${formatAgo(experiment.updated_at)}</td>
    <td class="actions"><span class="row-actions" data-write>
      <button type="button" class="btn ghost small" data-action="rename">Rename</button>
      <button type="button" class="btn ghost small danger" data-action="delete">Delete</button>
    </span></td>
  </tr>`;
}

async function load() {
  const result = await api("/experiments", { query: { page, per_page: PER_PAGE } });
  if (result.pages && page > result.pages) {
    page = result.pages;
    return load();
  }
  experiments = result.items;
  table.innerHTML = experiments.map(row).join("");
  document.getElementById("empty").hidden = result.total > 0;
  document.getElementById("summary").textContent =
    result.total === 1 ? "1 experiment" : `${formatInteger(result.total)} experiments`;
  pager.hidden = result.pages <= 1;
  pager.querySelector("[data-role=label]").textContent = `Page ${page} of ${result.pages}`;
  pager.querySelector("[data-role=prev]").disabled = page <= 1;
  pager.querySelector("[data-role=next]").disabled = page >= result.pages;
}

function showForm(show) {
  form.hidden = !show;
  formError.hidden = true;
  if (show) {
    form.reset();
    form.elements.owner.value = localStorage.getItem("mltrail.owner") || "";
    form.elements.name.focus();
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  if (!data.description) delete data.description;
  try {
    const created = await api("/experiments", { method: "POST", body: data });
    localStorage.setItem("mltrail.owner", data.owner);
    showForm(false);
    toast(`Created ${created.name}`);
    page = 1;
    await load();
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
  }
});
form.querySelector("[data-role=cancel]").addEventListener("click", () => showForm(false));
document.getElementById("new-experiment").addEventListener("click", () => showForm(form.hidden));

function startRename(tr) {
  const experiment = experiments.find((item) => item.id === tr.dataset.id);
  const cell = tr.querySelector("td.name");
  cell.innerHTML = `<form class="inline-edit">
      <input type="text" name="name" maxlength="100" required aria-label="New name">
      <button class="btn small primary">Save</button>
      <button type="button" class="btn small" data-role="cancel">Cancel</button>
    </form>`;
  const edit = cell.querySelector("form");
  edit.elements.name.value = experiment.name;
  edit.elements.name.select();
  edit.querySelector("[data-role=cancel]").addEventListener("click", load);
  edit.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`/experiments/${experiment.id}`, {
        method: "PATCH",
        body: { name: edit.elements.name.value.trim() },
      });
      toast("Renamed");
      await load();
    } catch (error) {
      edit.elements.name.classList.add("invalid");
      toast(error.message, "error");
    }
  });
}

async function remove(tr) {
  const experiment = experiments.find((item) => item.id === tr.dataset.id);
  const count = experiment.run_count;
  const what =
    count === 0
      ? "The experiment disappears"
      : `The experiment and ${count === 1 ? "its run" : `its ${formatInteger(count)} runs`} disappear`;
  const ok = await confirmDialog({
    title: `Delete ${experiment.name}?`,
    message: `${what} from the UI and the API. It can be restored through the API.`,
  });
  if (!ok) return;
  try {
    await api(`/experiments/${experiment.id}`, { method: "DELETE" });
    toast(`Deleted ${experiment.name}`);
    await load();
  } catch (error) {
    toast(error.message, "error");
  }
}

table.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const tr = button.closest("tr");
  if (button.dataset.action === "rename") startRename(tr);
  if (button.dataset.action === "delete") remove(tr);
});
pager.querySelector("[data-role=prev]").addEventListener("click", () => {
  page -= 1;
  load();
});
pager.querySelector("[data-role=next]").addEventListener("click", () => {
  page += 1;
  load();
});

// An MLflow link pasted into a tab already on this page changes only the fragment.
window.addEventListener("hashchange", () => {
  const target = mlflowLinkTarget(location.hash);
  if (target) location.replace(target);
});
const mlflowTarget = mlflowLinkTarget(location.hash);
if (mlflowTarget) location.replace(mlflowTarget);
else load().catch((error) => toast(error.message, "error"));
