// How pages talk to the server: JSON over /api/v1, and live events over Server-Sent Events.
//
// Auth: when the API answers 401, the page asks for an API key once (a dialog) and hands it to
// /ui/session, which keeps it in an HTTP-only cookie: from then on every call, event stream and
// download link carries it, and no script can read it. Writes add X-Requested-With, which the
// server demands of cookie-signed writes (another site cannot send it).

const API = "/api/v1";
const UI_HEADERS = { "X-Requested-With": "mltrail-ui" };

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/** A readable message from an error body: `{"detail": "..."}` or FastAPI's list of fields. */
export function describe(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return where ? `${where}: ${item.msg}` : item.msg;
      })
      .join("; ");
  }
  return `The server answered ${status}`;
}

let keyPrompt = null;

function askForKey(reason) {
  if (keyPrompt) return keyPrompt;
  const dialog = document.getElementById("api-key-dialog");
  const form = document.getElementById("api-key-form");
  const error = form.querySelector("[data-role=error]");
  error.hidden = !reason;
  error.textContent = reason || "";
  form.reset();
  keyPrompt = new Promise((resolve) => {
    form.addEventListener(
      "submit",
      async () => {
        const response = await fetch("/ui/session", {
          method: "POST",
          headers: { "Content-Type": "application/json", ...UI_HEADERS },
          body: JSON.stringify({ key: form.elements.key.value.trim() }),
        });
        keyPrompt = null;
        resolve(response.ok ? "" : describe(await response.json().catch(() => null), 401));
      },
      { once: true },
    );
  });
  dialog.showModal();
  return keyPrompt;
}

/**
 * Call the v1 API. `body` is sent as JSON; `query` becomes the query string (empty values
 * left out). Resolves to the decoded JSON (null for 204); rejects with ApiError.
 */
export async function api(path, { method = "GET", body, query, signal } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  for (;;) {
    const headers = { Accept: "application/json", ...UI_HEADERS };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return response.status === 204 ? null : response.json();
    const payload = await response.json().catch(() => null);
    if (response.status === 401) {
      let problem = await askForKey("");
      while (problem) problem = await askForKey(problem);  // a wrong key: ask again, saying why
      continue;
    }
    throw new ApiError(response.status, describe(payload, response.status));
  }
}

/**
 * Who is looking: the header names the signed-in user and offers to sign out; viewers get
 * no write controls (elements marked `data-write` are hidden by the stylesheet). The server
 * still checks every write; this only spares them dead buttons. With auth off nobody is
 * signed in, and the header says nothing.
 */
async function applyRole() {
  let me;
  try {
    me = await api("/me");
  } catch {
    return; // An older server without /me: show everything and let the API decide.
  }
  document.documentElement.dataset.role = me.role;
  if (!me.authenticated) return;
  document.getElementById("account-name").textContent = me.name;
  document.getElementById("account-role").textContent = `(${me.role})`;
  document.getElementById("account").hidden = false;
}

/** Sign out: the server drops the key's cookie; the page then asks for a key again. */
async function signOut() {
  const response = await fetch("/ui/session", { method: "DELETE", headers: UI_HEADERS });
  if (!response.ok) {
    toast(`Signing out failed: the server answered ${response.status}`, "error");
    return;
  }
  location.reload();
}

document.getElementById("sign-out").addEventListener("click", signOut);
applyRole();

/** Metric values travel as numbers or "NaN" / "Infinity" / "-Infinity". */
export function metricNumber(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? Number(value) : value;
}

/**
 * Follow a live event stream (`/runs/{id}/events`, `/experiments/{id}/events`). `handlers`
 * maps event names (state, runs, metrics, gone) to functions of the decoded payload. The
 * stream is closed while the tab is hidden (browsers allow few open streams per server) and
 * reopened when it shows again; its first event, `state`, then brings the page up to date.
 */
export function live(path, handlers) {
  let source = null;
  const indicator = document.getElementById("live-status");
  const open = () => {
    if (source) return;
    source = new EventSource(API + path);
    source.addEventListener("open", () => (indicator.hidden = false));
    // A stream the server ended is reopened by the browser (CONNECTING); CLOSED is final.
    source.addEventListener("error", (event) => {
      if (event.target.readyState === EventSource.CLOSED) indicator.hidden = true;
    });
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
    }
    source.addEventListener("gone", close);
  };
  const close = () => {
    if (source) source.close();
    source = null;
    indicator.hidden = true;
  };
  const onVisibility = () => (document.hidden ? close() : open());
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", close);
  if (!document.hidden) open();
  return {
    close() {
      document.removeEventListener("visibilitychange", onVisibility);
      close();
    },
  };
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 7000 : 3500);
}

/** A modal yes/no question; resolves to true when confirmed. */
export function confirmDialog({ title, message, confirm = "Delete", danger = true }) {
  const dialog = document.createElement("dialog");
  dialog.className = "dialog";
  dialog.innerHTML = `<form method="dialog">
      <h2></h2><p class="muted"></p>
      <div class="dialog-actions">
        <button class="btn" value="cancel">Cancel</button>
        <button class="btn ${danger ? "danger solid" : "primary"}" value="ok" data-role="confirm"></button>
      </div></form>`;
  dialog.querySelector("h2").textContent = title;
  dialog.querySelector("p").textContent = message;
  dialog.querySelector("[data-role=confirm]").textContent = confirm;
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    dialog.showModal();
  });
}
