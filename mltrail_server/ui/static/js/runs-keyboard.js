// Keyboard navigation in the runs table: a cursor row that ArrowDown/ArrowUp (or j/k),
// Home and End move, Space selects and Enter opens. The table keeps the focus and names the
// cursor row with aria-activedescendant, so a screen reader reads each row it lands on; the
// rows themselves may be redrawn (a large page draws only those in view) without losing it.

const MOVES = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 };
const TYPING = "input, textarea, select, [contenteditable]:not([contenteditable=false])";

/** The DOM id of a run's row (what aria-activedescendant names). */
export function rowElementId(runId) {
  return `run-row-${runId}`;
}

export class RowCursor {
  /**
   * `table`: the focusable table; `ids()`: the run ids of the rows in their order;
   * `reveal(index)`: draw that row in view and return its <tr>; `toggle(id)`: select or
   * unselect the run; `open(id)`: go to the run's page.
   */
  constructor(table, { ids, reveal, toggle, open }) {
    this.table = table;
    this.ids = ids;
    this.reveal = reveal;
    this.id = null;
    table.tabIndex = 0;
    document.addEventListener("keydown", (event) => this.keydown(event, toggle, open));
    // A click on a row puts the cursor there, so the keys go on from where the mouse was.
    table.addEventListener("click", (event) => {
      const tr = event.target.closest("tbody tr[data-id]");
      if (tr) this.place(tr.dataset.id);
    });
  }

  keydown(event, toggle, open) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target.closest?.(TYPING) || document.querySelector("dialog[open]")) return;
    // From the table, or from nowhere in particular (the page itself): a focused button or
    // link keeps its own Enter and Space.
    if (target !== this.table && target !== document.body && target !== document.documentElement) return;
    const ids = this.ids();
    if (!ids.length) return;
    const at = ids.indexOf(this.id);
    let index = null;
    if (event.key in MOVES) index = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + MOVES[event.key]));
    else if (event.key === "Home") index = 0;
    else if (event.key === "End") index = ids.length - 1;
    if (index !== null) {
      event.preventDefault();
      this.moveTo(index, ids);
      return;
    }
    if (at < 0 || (event.key !== " " && event.key !== "Enter")) return;
    event.preventDefault();
    if (event.key === " ") toggle(this.id);
    else open(this.id);
  }

  moveTo(index, ids = this.ids()) {
    this.id = ids[index];
    if (document.activeElement !== this.table) this.table.focus({ preventScroll: true });
    this.reveal(index);
    this.mark();
  }

  place(id) {
    this.id = id;
    this.mark();
  }

  /** Show the cursor on its row, if drawn (called after every redraw of the rows). */
  mark() {
    for (const tr of this.table.querySelectorAll("tbody tr.cursor")) tr.classList.remove("cursor");
    const tr = this.id && document.getElementById(rowElementId(this.id));
    if (tr) {
      tr.classList.add("cursor");
      this.table.setAttribute("aria-activedescendant", tr.id);
    } else {
      this.table.removeAttribute("aria-activedescendant");
    }
  }
}
