// How values read on screen: numbers, dates, durations, statuses; and HTML escaping.

export function escapeHtml(text) {
  return String(text ?? "").replace(
    /[&<>"']/g,
    (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char],
  );
}

/**
 * Give the elements under `root` the sizes and colours their markup names in `data-color`,
 * `data-width` and `data-height` (pixels). Markup may not carry style attributes, which the
 * pages' Content-Security-Policy refuses; styles set through the CSSOM are allowed.
 */
export function applyStyles(root) {
  for (const element of root.querySelectorAll("[data-color]")) {
    element.style.background = element.dataset.color;
  }
  for (const element of root.querySelectorAll("[data-width]")) {
    element.style.width = `${element.dataset.width}px`;
  }
  for (const element of root.querySelectorAll("[data-height]")) {
    element.style.height = `${element.dataset.height}px`;
  }
}

/** A metric value: 5 significant digits, exponent notation for the very large or small. */
export function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "∞";
  if (value === -Infinity) return "−∞";
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return value.toLocaleString("en-US");
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e6 || size < 1e-4)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

export function formatInteger(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US");
}

const dateFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

export function formatDate(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "—";
}

/** "3 min ago", "2 h ago", "5 days ago"; a date past a month. */
export function formatAgo(iso) {
  if (!iso) return "—";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 86400 * 30) return `${Math.round(seconds / 86400)} days ago`;
  return formatDate(iso);
}

/** "850 ms", "42 s", "3m 12s", "1h 02m", "3d 4h". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A run's duration so far: end (or now, while it runs) minus start. */
export function runDuration(run) {
  const end = run.ended_at ? new Date(run.ended_at) : run.status === "running" ? new Date() : null;
  return end ? end - new Date(run.started_at) : null;
}

export function statusBadge(status) {
  return `<span class="badge ${escapeHtml(status)}">${escapeHtml(status)}</span>`;
}

/** Ten colours that stay apart from each other on light and dark backgrounds. */
export const PALETTE = [
  "#4f6bed", "#e5534b", "#2da44e", "#d4a72c", "#a371f7",
  "#1b9aaa", "#f0883e", "#db61a2", "#6e7781", "#57ab5a",
];

export function colorAt(index) {
  return PALETTE[index % PALETTE.length];
}

/** A param / metric key as the search language wants it: bare when it can be, else quoted. */
export function fieldName(entity, key) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${entity}.${key}` : `${entity}.\`${key.replaceAll("`", "``")}\``;
}
