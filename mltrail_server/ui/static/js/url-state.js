// A page's shareable state in its address: named query params read and written in place
// (history.replaceState, so no history entry per click), keeping every key the caller does
// not name — other modules of the page (the workspace, for one) keep keys of their own there.

/** The value of query param `name`, or null when the address has none. */
export function readParam(name) {
  return new URL(location.href).searchParams.get(name);
}

/** Whether the address has any of `names`. */
export function hasAnyParam(names) {
  const params = new URL(location.href).searchParams;
  return names.some((name) => params.has(name));
}

// Commas, colons and slashes are legal in a query value; leaving them unescaped keeps lists
// such as `cols=m:loss,p:lr` readable in a shared link.
const READABLE = { "%2C": ",", "%3A": ":", "%2F": "/" };

function encode(text) {
  return encodeURIComponent(text).replace(/%2C|%3A|%2F/gi, (code) => READABLE[code.toUpperCase()]);
}

/**
 * Set the query params of `values` ({name: text}); a null, undefined or empty text removes
 * its param. Other params keep their values and order, and the hash stays.
 */
export function writeParams(values) {
  const next = new URL(location.href);
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "") next.searchParams.delete(name);
    else next.searchParams.set(name, String(value));
  }
  const query = [...next.searchParams].map(([name, value]) => `${encode(name)}=${encode(value)}`).join("&");
  const target = `${next.pathname}${query ? `?${query}` : ""}${next.hash}`;
  // Unchanged addresses are not written: browsers throttle pages that call replaceState often.
  if (target !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, "", target);
}

/** A list of run ids as a param: UUIDs without their hyphens (32 hex digits each). */
export function idsParam(ids) {
  return [...ids].map((id) => id.replaceAll("-", "")).join(",");
}

/** The inverse of idsParam: run ids as the API writes them (hyphenated UUIDs). */
export function parseIdsParam(text) {
  if (!text) return [];
  return text
    .split(",")
    .map((id) => id.trim().toLowerCase())
    .filter((id) => /^[0-9a-f]{32}$/.test(id) || /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(id))
    .map((id) =>
      id.length === 32 ? `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}` : id,
    );
}
