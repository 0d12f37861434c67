// What the model pages and the run page share: links to models and runs, alias chips,
// version badges.

import { el } from "./dom.js";

/** The model page of a registered model (a name is one path segment, percent-encoded). */
export function modelHref(name) {
  return `/models/${encodeURIComponent(name)}`;
}

/** `champion → v2` chips, or a dash when there are none. `aliases`: alias → version. */
export function aliasChips(aliases, { withVersion = true } = {}) {
  const names = Array.isArray(aliases) ? aliases : Object.keys(aliases);
  if (!names.length) return el("span", { class: "subtle" }, "—");
  return el(
    "span",
    { class: "aliases" },
    names
      .slice()
      .sort()
      .map((alias) =>
        el(
          "span",
          { class: "alias", "data-alias": alias },
          `@${alias}`,
          withVersion && !Array.isArray(aliases) ? el("span", { class: "arrow" }, `→ v${aliases[alias]}`) : null,
        ),
      ),
  );
}

/** A version's registration status (READY, PENDING_REGISTRATION, FAILED_REGISTRATION). */
export function versionStatus(status) {
  return el("span", { class: `badge ${String(status).toLowerCase()}` }, String(status).toLowerCase());
}

/** A version's MLflow stage; "None" reads as a dash. */
export function stageText(stage) {
  return stage && stage !== "None" ? el("span", { class: `stage ${stage.toLowerCase()}` }, stage) : el("span", { class: "subtle" }, "—");
}

/** A link to the run a version came from, by its short id. */
export function runLink(runId) {
  if (!runId) return el("span", { class: "subtle" }, "—");
  return el("a", { class: "mono", href: `/runs/${encodeURIComponent(runId)}`, title: runId }, runId.slice(0, 8));
}
