// Pure computations of the experiment workspace: runs grouped by a param or tag, and a
// group's mean, min, max and standard deviation aligned by step.

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
 * Per step, the mean, min, max and standard deviation over the series (each [{step, value}])
 * that have a finite value at that step; sorted by step. The deviation is the population one
 * (divided by the count): the group is every run there is, not a sample of some larger set.
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
    .map(([step, values]) => {
      const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
      const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length;
      return {
        step,
        mean,
        min: values.reduce((a, b) => Math.min(a, b)),
        max: values.reduce((a, b) => Math.max(a, b)),
        std: Math.sqrt(variance),
        count: values.length,
      };
    });
}

/** The default grouping: the `mltrail.group` tag when any run has it. */
export function defaultGrouping(runs) {
  return runs.some((run) => run.tags && DEFAULT_GROUP_TAG in run.tags)
    ? { kind: "tag", key: DEFAULT_GROUP_TAG }
    : null;
}
