// MLflow's UI routes in the address's fragment (`/#/experiments/1/runs/ab12...`), and the
// mlflow client prints such links ("View run at ..."). The fragment never reaches the server,
// so the root page sends them on to our own page of the same run, experiment or model.

const ID = "[0-9A-Fa-f-]{1,36}";
const RUN = new RegExp(`^/experiments/${ID}/runs/(${ID})(?:/|$)`);
const EXPERIMENT = new RegExp(`^/experiments/(${ID})(?:/|$)`);
const MODEL = /^\/models\/([^/]+)(?:\/|$)/;

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** Our page's address for an MLflow UI fragment (`location.hash`), or null if it names none. */
export function mlflowLinkTarget(hash) {
  if (!hash.startsWith("#/")) return null;
  const path = hash.slice(1).split("?")[0];
  let match = RUN.exec(path);
  if (match) return `/runs/${match[1]}`;
  match = EXPERIMENT.exec(path);
  if (match) return `/experiments/${match[1]}`;
  match = MODEL.exec(path);
  const name = match && decoded(match[1]);
  if (name) return `/models/${encodeURIComponent(name)}`;
  return null;
}
