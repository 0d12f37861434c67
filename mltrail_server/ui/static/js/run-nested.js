// A run page's "Nested runs" card: the runs whose parent is this run, each linked to its page,
// and a link to all of them in the experiment's runs table. Hidden when the run has none.

import { api } from "./api.js";
import { el } from "./dom.js";
import { formatAgo, formatDate, statusBadge } from "./format.js";

const SHOWN = 100;

/** Fill the card `#nested-runs` with the children of `run`. */
export async function renderNestedRuns(run) {
  const card = document.getElementById("nested-runs");
  if (!card) return;
  const body = card.querySelector("tbody");
  const filter = `attributes.parent_run_id = '${run.id}'`;
  let result;
  try {
    result = await api("/runs/search", {
      method: "POST",
      body: { experiment_ids: [run.experiment_id], filter, max_results: SHOWN },
    });
  } catch (error) {
    card.hidden = false;
    body.replaceChildren(el("tr", {}, el("td", { class: "subtle", colspan: 3 }, error.message)));
    return;
  }
  card.hidden = result.runs.length === 0;
  const more = Boolean(result.next_page_token);
  card.querySelector(".count").textContent = `${result.runs.length}${more ? "+" : ""}`;
  body.replaceChildren(
    ...result.runs.map((child) => {
      const status = el("td", {});
      status.innerHTML = statusBadge(child.status);
      return el(
        "tr",
        { "data-id": child.id },
        el("td", { class: "name" }, el("a", { href: `/runs/${child.id}` }, child.name)),
        status,
        el("td", { class: "muted num", title: formatDate(child.started_at) }, formatAgo(child.started_at)),
      );
    }),
  );
  const all = card.querySelector("[data-role=all]");
  all.href = `/experiments/${run.experiment_id}?filter=${encodeURIComponent(filter)}`;
  all.textContent = more ? "All nested runs in the runs table" : "In the runs table";
}
