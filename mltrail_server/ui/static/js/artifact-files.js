// Reading a run's artifact files from the page: their URLs, and their bytes a range at a time
// (HTTP Range where the server's store honours it; otherwise the stream is read up to the end
// of the range and dropped).

import { ApiError, describe } from "./api.js";

/** The download URL of the run's artifact at `path` (each segment escaped). */
export function artifactUrl(runId, path) {
  return `/api/v1/runs/${runId}/artifacts/${encodePath(path)}`;
}

export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

async function failure(response) {
  const body = await response.json().catch(() => null);
  return new ApiError(response.status, describe(body, response.status));
}

/**
 * `length` bytes of the file at `url` from byte `start` (fewer at its end). Resolves to
 * `{ bytes: Uint8Array, total }`, `total` being the file's size when the server said it.
 */
export async function readRange(url, start, length) {
  const response = await fetch(url, {
    headers: { Range: `bytes=${start}-${start + length - 1}` },
    credentials: "same-origin",
  });
  if (response.status === 416) return { bytes: new Uint8Array(0), total: start };
  if (!response.ok) throw await failure(response);
  if (response.status === 206) {
    const total = Number((response.headers.get("content-range") || "").split("/")[1]);
    return { bytes: new Uint8Array(await response.arrayBuffer()), total: total || null };
  }
  // The whole file came back: keep the range's part of it and stop reading.
  const total = Number(response.headers.get("content-length")) || null;
  const reader = response.body.getReader();
  const parts = [];
  let seen = 0;
  let kept = 0;
  while (kept < length) {
    const { done, value } = await reader.read();
    if (done) break;
    const from = Math.max(0, start - seen);
    const to = Math.min(value.length, start + length - seen);
    if (to > from) {
      parts.push(value.subarray(from, to));
      kept += to - from;
    }
    seen += value.length;
  }
  await reader.cancel().catch(() => {});
  const bytes = new Uint8Array(kept);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return { bytes, total };
}

/** The whole file as text; rejects with a 413-like ApiError when it is over `limit` bytes. */
export async function readText(url, limit) {
  const { bytes, total } = await readRange(url, 0, limit + 1);
  if (bytes.length > limit || (total && total > limit)) {
    throw new ApiError(413, `The file is over ${formatBytes(limit)}, more than a preview reads`);
  }
  return new TextDecoder().decode(bytes);
}
