// The searches behind the runs table's tree and pins: a run's nested runs at any depth, the
// pinned runs, and whether an experiment has nested runs at all.

import { api } from "./api.js";
import { idsClause } from "./runs-tree.js";

const CHUNK = 100; // runs per request
const MAX_NESTED = 2000; // nested runs loaded for one page, at most
const IDS_PER_SEARCH = 100; // ids in one `IN (...)` clause

/** Every run one search finds, up to `limit`; `more` when there were more. */
async function searchAll(body, signal, limit) {
  const runs = [];
  let token = null;
  do {
    const result = await api("/runs/search", {
      method: "POST",
      signal,
      body: { ...body, max_results: Math.min(CHUNK, limit - runs.length), page_token: token },
    });
    runs.push(...result.runs);
    token = result.next_page_token;
  } while (token && runs.length < limit);
  return { runs, more: Boolean(token) };
}

/** The runs nested under `ids`, at any depth, level by level in `orderBy`'s order;
 * `capped` when there were more than MAX_NESTED of them. */
export async function loadNested(experimentId, ids, orderBy, signal) {
  const nested = [];
  const seen = new Set(ids);
  let level = ids;
  let capped = false;
  while (level.length && !capped) {
    const next = [];
    for (let at = 0; at < level.length && !capped; at += IDS_PER_SEARCH) {
      const { runs, more } = await searchAll(
        {
          experiment_ids: [experimentId],
          filter: idsClause("parent_run_id", level.slice(at, at + IDS_PER_SEARCH)),
          order_by: orderBy,
        },
        signal,
        MAX_NESTED - nested.length,
      );
      const fresh = runs.filter((run) => !seen.has(run.id)); // a cycle in bad data ends here
      for (const run of fresh) seen.add(run.id);
      nested.push(...fresh);
      next.push(...fresh.map((run) => run.id));
      capped = more || nested.length >= MAX_NESTED;
    }
    level = next;
  }
  return { nested, capped };
}

/** The pinned runs (`pins`, a Pins) that still exist, in the order they were pinned; the
 * others are forgotten. */
export async function loadPinned(experimentId, pins, signal) {
  if (!pins.ids.length) return [];
  const { runs } = await searchAll(
    { experiment_ids: [experimentId], filter: idsClause("run_id", pins.ids), order_by: [] },
    signal,
    pins.ids.length,
  );
  pins.keep(runs.map((run) => run.id));
  return runs.sort((a, b) => pins.ids.indexOf(a.id) - pins.ids.indexOf(b.id));
}

/** Whether any run of the experiment is nested (then a page counts only top-level runs). */
export async function hasNestedRuns(experimentId) {
  const body = { experiment_ids: [experimentId], filter: "attributes.parent_run_id IS NOT NULL", max_results: 1 };
  const result = await api("/runs/search", { method: "POST", body });
  return result.runs.length > 0;
}
