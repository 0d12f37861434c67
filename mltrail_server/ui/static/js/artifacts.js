// The run page's Artifacts card: the run's files a directory at a time; a file's name opens
// its preview, the arrow beside it downloads it.

import { api } from "./api.js";
import { artifactUrl, formatBytes } from "./artifact-files.js";
import { showPreview } from "./artifact-preview.js";
import { escapeHtml } from "./format.js";

function crumbsOf(path) {
  if (!path) return "";
  const parts = path.split("/");
  const links = parts.map(
    (part, i) =>
      ` / <a href="#" data-path="${escapeHtml(parts.slice(0, i + 1).join("/"))}">${escapeHtml(part)}</a>`,
  );
  return `<div class="path"><a href="#" data-path="">root</a>${links.join("")}</div>`;
}

function rowOf(runId, file) {
  const name = file.path.split("/").pop();
  const size = file.file_size ?? file.size;
  if (file.is_dir) {
    return `<tr><td class="file"><span class="icon">▸</span><a href="#" data-path="${escapeHtml(file.path)}">${escapeHtml(name)}/</a></td><td></td><td></td></tr>`;
  }
  const url = artifactUrl(runId, file.path);
  return `<tr><td class="file"><span class="icon">·</span><a href="${escapeHtml(url)}" data-file="${escapeHtml(file.path)}" data-size="${size ?? ""}" title="Preview ${escapeHtml(name)}">${escapeHtml(name)}</a></td>
    <td class="num muted">${size === undefined || size === null ? "" : formatBytes(size)}</td>
    <td class="download"><a href="${escapeHtml(url)}" download="${escapeHtml(name)}" title="Download ${escapeHtml(name)}" aria-label="Download ${escapeHtml(name)}">↓</a></td></tr>`;
}

async function list(box, runId, path) {
  let listing;
  try {
    listing = await api(`/runs/${runId}/artifacts`, { query: { path } });
  } catch (error) {
    box.innerHTML =
      error.status === 404 && error.detail === "Not Found"
        ? '<span class="subtle">This server does not store artifacts.</span>'
        : `<span class="subtle">${escapeHtml(error.message)}</span>`;
    return;
  }
  const files = listing.files || listing.items || listing.artifacts || [];
  const crumbs = crumbsOf(path);
  box.innerHTML = files.length
    ? `${crumbs}<table class="table compact"><tbody>${files.map((f) => rowOf(runId, f)).join("")}</tbody></table>`
    : `${crumbs}<span class="subtle">No artifacts.</span>`;
}

/** Fill `box` with the run's artifacts; a file clicked previews in `previewCard`. */
export function showArtifacts(box, previewCard, runId) {
  box.addEventListener("click", (event) => {
    const directory = event.target.closest("a[data-path]");
    const file = event.target.closest("a[data-file]");
    // A modified click (new tab, save) does what it does on any link.
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    if (directory) {
      event.preventDefault();
      list(box, runId, directory.dataset.path);
    } else if (file) {
      event.preventDefault();
      const size = file.dataset.size === "" ? null : Number(file.dataset.size);
      showPreview(previewCard, { runId, path: file.dataset.file, size });
    }
  });
  return list(box, runId, "");
}
