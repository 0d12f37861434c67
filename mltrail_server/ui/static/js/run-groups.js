// Pure computations of the experiment workspace: runs grouped by a param or tag, and a
// group's mean, min and max aligned by step.

export const DEFAULT_GROUP_TAG = "mltrail.group";

/** The group key of `run` for `by` ({kind: "param"|"tag", key}); null without grouping. */
export function groupOf(run, by) {
  if (!by) return null;
  const bag = by.kind === "param" ? run.params : run.tags;
  const value = bag?.[by.key];
  return value === undefined ? "(none)" : String(value);
}

/** Map group name -> run ids, in first-seen order. */
export function groupRuns(runs, by) {
  const groups = new Map();
  for (const run of runs) {
    const name = groupOf(run, by);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(run.id);
  }
  return groups;
}

/**
 * Per step, the mean, min and max over the series (each [{step, value}]) that have a finite
 * value at that step; sorted by step.
 */
export function aggregateByStep(seriesList) {
  const byStep = new Map();
  for (const points of seriesList) {
    for (const { step, value } of points) {
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      if (!byStep.has(step)) byStep.set(step, []);
      byStep.get(step).push(value);
    }
  }
  return [...byStep.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, values]) => ({
      step,
      mean: values.reduce((sum, v) => sum + v, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      count: values.length,
    }));
}

/** The default grouping: the `mltrail.group` tag when any run has it. */
export function defaultGrouping(runs) {
  return runs.some((run) => run.tags && DEFAULT_GROUP_TAG in run.tags)
    ? { kind: "tag", key: DEFAULT_GROUP_TAG }
    : null;
}
