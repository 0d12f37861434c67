"""One HTTP client to the server: headers, timeouts, retries, and errors turned into the
SDK's exceptions. Every other module talks to the server through a `Transport`."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from mltrail.config import Settings
from mltrail.errors import MltrailError, ServerUnreachable, api_error
from mltrail.retry import RETRYABLE_STATUSES, Backoff, parse_retry_after

__all__ = ["Body", "Transport", "error_detail"]

USER_AGENT = "mltrail-python"
DOWNLOAD_CHUNK_BYTES = 1024 * 1024

#: A request body too large for memory: called once per attempt, it gives the body afresh
#: (e.g. a generator reading a file from its start), so that a retry sends it again whole.
Body = Callable[[], Iterable[bytes]]


def error_detail(response: httpx.Response) -> str:
    """The `detail` of an error body, flattened to one line (validation errors name fields)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if isinstance(error, dict):
                where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
                parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
            else:
                parts.append(str(error))
        return "; ".join(parts)
    return str(detail) if detail is not None else response.reason_phrase


def _save(response: httpx.Response, target: Path) -> int:
    size = 0
    with open(target, "wb") as handle:
        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
            handle.write(chunk)
            size += len(chunk)
    return size


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


class Transport:
    """Sends requests to one server. `request` retries what can succeed later (connection
    errors, 429, 5xx) for up to `budget` seconds, then raises `ServerUnreachable`; a refusal
    (other 4xx) raises the matching `ApiError` at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        backoff: Backoff | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.backoff = backoff or Backoff()
        self._client = httpx.Client(
            transport=transport,
            base_url=settings.url,
            headers={"User-Agent": USER_AGENT, **settings.headers},
            timeout=httpx.Timeout(settings.timeout, connect=min(5.0, settings.timeout)),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> httpx.Response:
        """Send a request; return the 2xx/3xx response. `budget` (default: the settings'
        `give_up_after`) bounds the time spent retrying; 0 means one attempt. `content` is
        a JSON body already encoded; `body` streams any other body (see `Body`), with
        `headers` saying what it is (Content-Type, Content-Length)."""
        deadline = self._deadline(budget)
        sent_headers = dict(headers or {})
        if content is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.request(
                    method,
                    path,
                    json=json,
                    content=body() if body is not None else content,
                    params=query,
                    headers=sent_headers or None,
                )
            except httpx.TransportError as exc:
                reason = _describe(exc)
            else:
                if response.status_code < 400:
                    return response
                reason, retry_after = self._refusal(response, method, path)
            self._wait(deadline, attempt, reason, retry_after, sleep)
            attempt += 1

    def download(
        self,
        path: str,
        target: Path,
        *,
        budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """GET `path` into the file `target`, streamed (never whole in memory); return its
        size. Written to a temporary file beside `target`, renamed into place when complete,
        so `target` is never left half-written. Retried like `request`, from the start."""
        deadline = self._deadline(budget)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
        attempt = 0
        try:
            while True:
                retry_after: float | None = None
                try:
                    with self._client.stream("GET", path) as response:
                        if response.status_code < 400:
                            size = _save(response, temporary)
                            os.replace(temporary, target)
                            return size
                        response.read()
                        reason, retry_after = self._refusal(response, "GET", path)
                except httpx.TransportError as exc:
                    reason = _describe(exc)
                self._wait(deadline, attempt, reason, retry_after, sleep)
                attempt += 1
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def _deadline(self, budget: float | None) -> float:
        return time.monotonic() + (self.settings.give_up_after if budget is None else budget)

    @staticmethod
    def _refusal(response: httpx.Response, method: str, path: str) -> tuple[str, float | None]:
        """For an error response: raise the `ApiError` of a refusal, or return why it may be
        retried and the server's `Retry-After`."""
        detail = error_detail(response)
        if response.status_code not in RETRYABLE_STATUSES:
            raise api_error(response.status_code, detail, method, path)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return f"HTTP {response.status_code}: {detail}", retry_after

    def _wait(
        self,
        deadline: float,
        attempt: int,
        reason: str,
        retry_after: float | None,
        sleep: Callable[[float], None],
    ) -> None:
        """Sleep before the next attempt, or raise `ServerUnreachable` when the budget would
        run out first."""
        remaining = deadline - time.monotonic()
        delay = self.backoff.delay(attempt, retry_after)
        if remaining <= 0 or (retry_after is not None and retry_after > remaining):
            raise ServerUnreachable(self.settings.url, reason)
        sleep(min(delay, remaining))

    def json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """`request`, then the response's JSON body."""
        response = self.request(method, path, json=json, params=params)
        try:
            return response.json()
        except ValueError:
            raise MltrailError(
                f"{self.settings.url} answered {method} {path} with something that is not "
                "JSON: is it an Experiment Tracker server?"
            ) from None

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
