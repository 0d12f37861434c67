// The runs table as a tree: nested runs (a run's `parent_run_id`) drawn under their parent,
// pinned runs on top. Pure functions of their arguments; the page (experiment.js) loads runs.

/** Children per parent id, among `runs`; in the order of `runs`, or sorted by `compare`. */
function childrenOf(runs, compare) {
  const byId = new Set(runs.map((run) => run.id));
  const children = new Map();
  for (const run of runs) {
    if (!run.parent_run_id || !byId.has(run.parent_run_id)) continue;
    if (!children.has(run.parent_run_id)) children.set(run.parent_run_id, []);
    children.get(run.parent_run_id).push(run);
  }
  if (compare) for (const list of children.values()) list.sort(compare);
  return children;
}

/**
 * The rows to draw, in order: the pinned runs, then the runs whose parent is not among the
 * loaded ones (the top level), each followed by its children when it is in `expanded`, at any
 * depth. Each row: { run, depth, children (how many), expanded, pinned }.
 * A pinned run is drawn once, at the top (its children follow it there).
 */
export function treeRows(pinned, runs, expanded, compare = null) {
  const pinnedIds = new Set(pinned.map((run) => run.id));
  const all = [...pinned, ...runs.filter((run) => !pinnedIds.has(run.id))];
  const children = childrenOf(all, compare);
  const known = new Set(all.map((run) => run.id));
  const rows = [];
  const seen = new Set();
  const visit = (run, depth, isPinned) => {
    if (seen.has(run.id)) return; // a cycle in bad data draws each run once
    seen.add(run.id);
    const kids = (children.get(run.id) || []).filter((child) => !pinnedIds.has(child.id));
    const open = kids.length > 0 && expanded.has(run.id);
    rows.push({ run, depth, children: kids.length, expanded: open, pinned: isPinned });
    if (open) for (const child of kids) visit(child, depth + 1, false);
  };
  for (const run of pinned) visit(run, 0, true);
  let top = runs.filter((run) => !pinnedIds.has(run.id) && !(run.parent_run_id && known.has(run.parent_run_id)));
  if (compare) top = [...top].sort(compare);
  for (const run of top) visit(run, 0, false);
  return rows;
}

/** How many of `runs` are nested under another of them. */
export function nestedCount(runs) {
  const ids = new Set(runs.map((run) => run.id));
  return runs.filter((run) => run.parent_run_id && ids.has(run.parent_run_id)).length;
}

/** A filter clause that matches the runs with one of `ids` in `field` (ids are UUIDs). */
export function idsClause(field, ids) {
  return `attributes.${field} IN (${ids.map((id) => `'${id}'`).join(", ")})`;
}

// ---------- what the page keeps per experiment in localStorage ----------

function read(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

/** Pinned run ids of one experiment, in the order they were pinned. */
export class Pins {
  constructor(experimentId) {
    this.key = `exptrack.pinned.${experimentId}`;
    const ids = read(this.key, []);
    this.ids = Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
  }

  has(id) {
    return this.ids.includes(id);
  }

  toggle(id) {
    this.ids = this.has(id) ? this.ids.filter((other) => other !== id) : [...this.ids, id];
    this.save();
  }

  /** Keep only `ids` (the pinned runs that still exist). */
  keep(ids) {
    const alive = new Set(ids);
    const kept = this.ids.filter((id) => alive.has(id));
    if (kept.length === this.ids.length) return;
    this.ids = kept;
    this.save();
  }

  save() {
    if (this.ids.length) localStorage.setItem(this.key, JSON.stringify(this.ids));
    else localStorage.removeItem(this.key);
  }
}

/** Named sets of columns of one experiment: [{ name, columns }], sorted by name. */
export class ColumnPresets {
  constructor(experimentId) {
    this.key = `exptrack.column-presets.${experimentId}`;
    const list = read(this.key, []);
    this.list = Array.isArray(list)
      ? list.filter((preset) => typeof preset?.name === "string" && Array.isArray(preset.columns))
      : [];
  }

  get(name) {
    return this.list.find((preset) => preset.name === name) || null;
  }

  /** Save `columns` under `name` (replacing a preset of that name). */
  save(name, columns) {
    this.list = [...this.list.filter((preset) => preset.name !== name), { name, columns }].sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    this.store();
  }

  remove(name) {
    this.list = this.list.filter((preset) => preset.name !== name);
    this.store();
  }

  /** The preset whose columns are exactly `columns`, if any. */
  matching(columns) {
    const text = JSON.stringify(columns);
    return this.list.find((preset) => JSON.stringify(preset.columns) === text) || null;
  }

  store() {
    if (this.list.length) localStorage.setItem(this.key, JSON.stringify(this.list));
    else localStorage.removeItem(this.key);
  }
}
