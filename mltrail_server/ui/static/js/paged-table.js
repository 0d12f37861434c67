// A table shown a page of rows at a time, with Previous / Next and where the page stands.
//
// `source(offset, limit)` resolves to `{ columns, rows, total }`, `total` being null while
// the number of rows is not known yet (a CSV file still being read): Next then stays on
// until a page comes back short.

import { el } from "./dom.js";
import { formatInteger } from "./format.js";

export const PAGE_ROWS = 50;

function cellText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Show the table of `source` in `box` (replacing its content); resolves once the first page
 * shows, or rejects with the source's error. */
export async function pagedTable(box, source, { pageRows = PAGE_ROWS } = {}) {
  const head = el("thead");
  const body = el("tbody");
  const where = el("span", { class: "muted", "data-role": "page-status" });
  const previous = el("button", { type: "button", class: "btn small", "data-role": "previous" }, "Previous");
  const next = el("button", { type: "button", class: "btn small", "data-role": "next" }, "Next");
  const table = el("table", { class: "table compact preview-table" }, head, body);
  box.replaceChildren(
    el("div", { class: "table-scroll preview-table-scroll" }, table),
    el("div", { class: "pager" }, previous, next, where),
  );
  let offset = 0;

  async function show(at) {
    previous.disabled = next.disabled = true;
    const page = await source(at, pageRows);
    offset = at;
    head.replaceChildren(el("tr", {}, page.columns.map((name) => el("th", {}, name))));
    body.replaceChildren(
      ...(page.rows.length
        ? page.rows.map((row) => el("tr", {}, row.map((value) => el("td", {}, cellText(value)))))
        : [el("tr", {}, el("td", { class: "subtle", colspan: page.columns.length || 1 }, "No rows"))]),
    );
    const last = at + page.rows.length;
    const known = page.total !== null && page.total !== undefined;
    const of = known ? formatInteger(page.total) : `${formatInteger(last)}+`;
    where.textContent = page.rows.length
      ? `Rows ${formatInteger(at + 1)}–${formatInteger(last)} of ${of}`
      : `No rows of ${of}`;
    previous.disabled = at === 0;
    next.disabled = known ? last >= page.total : page.rows.length < pageRows;
  }

  const go = (at) =>
    show(at).catch((error) => {
      where.textContent = error.message;
      previous.disabled = offset === 0;
    });
  previous.addEventListener("click", () => go(Math.max(0, offset - pageRows)));
  next.addEventListener("click", () => go(offset + pageRows));
  await show(0);
}
