// The run page's preview of one artifact file: images, text and logs a page at a time, JSON
// pretty-printed, CSV/TSV and Parquet as paged tables, markdown as the server renders it (its
// own HTML escaped), HTML in a sandboxed frame that runs nothing. The file's content only
// ever goes into the page as text, except the server's rendering of markdown.

import { api } from "./api.js";
import { artifactUrl, encodePath, formatBytes, readRange, readText } from "./artifact-files.js";
import { parseDelimited } from "./csv.js";
import { el } from "./dom.js";
import { pagedTable } from "./paged-table.js";

const TEXT_PAGE = 64 * 1024;
const CSV_CHUNK = 256 * 1024;
const WHOLE_FILE_LIMIT = 5 * 1024 * 1024;

const KINDS = {
  image: ["png", "jpg", "jpeg", "gif", "webp", "bmp", "ico"],
  svg: ["svg"],
  json: ["json"],
  csv: ["csv"],
  tsv: ["tsv", "tab"],
  markdown: ["md", "markdown"],
  html: ["html", "htm"],
  parquet: ["parquet"],
  text: [
    "txt", "log", "out", "err", "py", "yaml", "yml", "toml", "ini", "cfg", "conf", "sh",
    "jsonl", "ndjson", "xml", "js", "ts", "r", "sql", "diff", "patch", "rst", "env", "lock",
  ],
};

/** What a file's name says it holds (`text` for names without a known extension, then
 * checked to be text before it shows). */
export function previewKind(path) {
  const name = path.split("/").pop().toLowerCase();
  const dot = name.lastIndexOf(".");
  const extension = dot > 0 ? name.slice(dot + 1) : "";
  for (const [kind, extensions] of Object.entries(KINDS)) {
    if (extensions.includes(extension)) return kind;
  }
  return "unknown";
}

function note(text) {
  return el("p", { class: "subtle", "data-role": "preview-note" }, text);
}

function loadMoreButton() {
  return el("button", { type: "button", class: "btn small", "data-role": "load-more" }, "Load more");
}

/** Text a page at a time, appended to a <pre> by "Load more". */
async function showText(body, url, size, { sniff = false } = {}) {
  const pre = el("pre", { class: "preview-text", "data-role": "preview-text" });
  const more = loadMoreButton();
  const status = el("span", { class: "muted", "data-role": "text-status" });
  const decoder = new TextDecoder("utf-8", { fatal: sniff });
  let offset = 0;
  let total = size ?? null;

  async function page() {
    more.disabled = true;
    const { bytes, total: told } = await readRange(url, offset, TEXT_PAGE);
    total = told ?? total;
    if (sniff && bytes.subarray(0, 8192).includes(0)) throw new TypeError("binary");
    offset += bytes.length;
    const done = bytes.length < TEXT_PAGE || (total !== null && offset >= total);
    pre.append(decoder.decode(bytes, { stream: !done }));
    more.hidden = done;
    more.disabled = false;
    status.textContent = done
      ? ""
      : `${formatBytes(offset)} of ${total === null ? "more" : formatBytes(total)} shown`;
  }

  try {
    await page();
  } catch (error) {
    if (!sniff || !(error instanceof TypeError)) throw error;
    body.replaceChildren(note("No preview for this kind of file. Download it to open it."));
    return;
  }
  more.addEventListener("click", () =>
    page().catch((error) => {
      status.textContent = error.message;
      more.disabled = false;
    }),
  );
  body.replaceChildren(pre, el("div", { class: "pager" }, more, status));
}

async function showJson(body, url, size) {
  if (size > WHOLE_FILE_LIMIT) {
    await showText(body, url, size);
    body.prepend(note(`Over ${formatBytes(WHOLE_FILE_LIMIT)}: shown as text, a page at a time.`));
    return;
  }
  const text = await readText(url, WHOLE_FILE_LIMIT);
  let pretty;
  try {
    pretty = JSON.stringify(JSON.parse(text), null, 2);
  } catch (error) {
    body.replaceChildren(
      note(`Not valid JSON (${error.message}); shown as it is.`),
      el("pre", { class: "preview-text", "data-role": "preview-text" }, text),
    );
    return;
  }
  body.replaceChildren(el("pre", { class: "preview-text json", "data-role": "preview-json" }, pretty));
}

/** Rows of a CSV/TSV file: its first record names the columns; bytes are read as pages ask. */
function delimitedSource(url, delimiter) {
  const rows = [];
  let columns = null;
  let offset = 0;
  let rest = "";
  let done = false;
  const decoder = new TextDecoder();

  async function readMore() {
    const { bytes, total } = await readRange(url, offset, CSV_CHUNK);
    offset += bytes.length;
    done = bytes.length < CSV_CHUNK || (total !== null && offset >= total);
    const parsed = parseDelimited(rest + decoder.decode(bytes, { stream: !done }), delimiter, done);
    rest = parsed.rest;
    const records = parsed.records;
    if (columns === null && records.length) columns = records.shift();
    rows.push(...records);
  }

  return async (at, limit) => {
    while (!done && rows.length < at + limit) await readMore();
    const width = Math.max(columns?.length || 0, ...rows.slice(at, at + limit).map((r) => r.length));
    const names = Array.from({ length: width }, (_, i) => columns?.[i] ?? `column ${i + 1}`);
    return { columns: names, rows: rows.slice(at, at + limit), total: done ? rows.length : null };
  };
}

/** A Parquet table's page, read by the server. */
export function parquetSource(runId, path) {
  return async (offset, limit) => {
    const page = await api(`/runs/${runId}/artifact-previews/table/${encodePath(path)}`, {
      query: { offset, limit },
    });
    return { columns: page.columns, rows: page.rows, total: page.total_rows };
  };
}

async function showMarkdown(body, runId, path) {
  const preview = await api(`/runs/${runId}/artifact-previews/markdown/${encodePath(path)}`);
  const view = el("div", { class: "markdown-body", "data-role": "preview-markdown" });
  // The server's rendering: markdown-it with raw HTML off, so only its own tags are here.
  view.innerHTML = preview.html;
  body.replaceChildren(view);
}

async function showHtml(body, url) {
  const text = await readText(url, WHOLE_FILE_LIMIT);
  // No sandbox tokens at all: no scripts, forms, popups or same-origin access. The frame
  // also keeps this page's Content-Security-Policy, so the file's styles do not apply.
  const frame = el("iframe", {
    class: "preview-frame",
    sandbox: "",
    referrerpolicy: "no-referrer",
    title: "HTML preview (sandboxed)",
    "data-role": "preview-frame",
  });
  frame.srcdoc = text;
  body.replaceChildren(
    note("Shown in a sandbox: its scripts, forms and styles do not run here."),
    frame,
  );
}

async function showSvg(body, url) {
  const { bytes, total } = await readRange(url, 0, WHOLE_FILE_LIMIT + 1);
  if (bytes.length > WHOLE_FILE_LIMIT || (total && total > WHOLE_FILE_LIMIT)) {
    body.replaceChildren(note(`Over ${formatBytes(WHOLE_FILE_LIMIT)}; download it to open it.`));
    return;
  }
  // The server sends SVG as a download (it can hold scripts); as an <img> nothing in it runs.
  const dataUrl = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(new Blob([bytes], { type: "image/svg+xml" }));
  });
  body.replaceChildren(el("img", { class: "preview-image", src: dataUrl, alt: url.split("/").pop(), "data-role": "preview-image" }));
}

async function showBody(body, { runId, path, size }) {
  const url = artifactUrl(runId, path);
  const kind = previewKind(path);
  body.dataset.kind = kind;
  switch (kind) {
    case "image":
      body.replaceChildren(el("img", { class: "preview-image", src: url, alt: path, "data-role": "preview-image" }));
      return;
    case "svg":
      return showSvg(body, url);
    case "json":
      return showJson(body, url, size);
    case "csv":
    case "tsv":
      return pagedTable(body, delimitedSource(url, kind === "csv" ? "," : "\t"));
    case "parquet":
      return pagedTable(body, parquetSource(runId, path));
    case "markdown":
      return showMarkdown(body, runId, path);
    case "html":
      return showHtml(body, url);
    case "text":
      return showText(body, url, size);
    default:
      return showText(body, url, size, { sniff: true });
  }
}

/**
 * Show the artifact `path` of run `runId` in `card` (a `.card`, shown and scrolled to),
 * with its name, size, a download link and a close button.
 */
export async function showPreview(card, { runId, path, size }) {
  const name = path.split("/").pop();
  const body = el("div", { class: "card-body preview-body", "data-role": "preview-body" }, el("span", { class: "skeleton" }));
  const close = el("button", { type: "button", class: "btn ghost small", "data-role": "close-preview" }, "Close");
  close.addEventListener("click", () => {
    card.hidden = true;
    card.replaceChildren();
  });
  card.replaceChildren(
    el(
      "div",
      { class: "card-head" },
      el("h2", { class: "mono", title: path, "data-role": "preview-name" }, path),
      size === null || size === undefined ? null : el("span", { class: "count" }, formatBytes(size)),
      el("span", { class: "spacer" }),
      el("a", { class: "btn small", href: artifactUrl(runId, path), download: name }, "Download"),
      close,
    ),
    body,
  );
  card.dataset.path = path;
  card.hidden = false;
  card.scrollIntoView({ block: "nearest" });
  try {
    await showBody(body, { runId, path, size });
  } catch (error) {
    if (card.dataset.path !== path) return;
    body.replaceChildren(note(`No preview: ${error.message}`));
  }
}
