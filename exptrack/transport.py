"""One HTTP client to the server: headers, timeouts, retries, and errors turned into the
SDK's exceptions. Every other module talks to the server through a `Transport`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from exptrack.config import Settings
from exptrack.errors import ExptrackError, ServerUnreachable, api_error
from exptrack.retry import RETRYABLE_STATUSES, Backoff, parse_retry_after

__all__ = ["Transport", "error_detail"]

USER_AGENT = "exptrack-python"


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
        params: Mapping[str, Any] | None = None,
        budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> httpx.Response:
        """Send a request; return the 2xx/3xx response. `budget` (default: the settings'
        `give_up_after`) bounds the time spent retrying; 0 means one attempt."""
        deadline = time.monotonic() + (self.settings.give_up_after if budget is None else budget)
        headers = {"Content-Type": "application/json"} if content is not None else None
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.request(
                    method, path, json=json, content=content, params=query, headers=headers
                )
            except httpx.TransportError as exc:
                reason = _describe(exc)
            else:
                if response.status_code < 400:
                    return response
                detail = error_detail(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise api_error(response.status_code, detail, method, path)
                reason = f"HTTP {response.status_code}: {detail}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            remaining = deadline - time.monotonic()
            delay = self.backoff.delay(attempt, retry_after)
            if remaining <= 0 or (retry_after is not None and retry_after > remaining):
                raise ServerUnreachable(self.settings.url, reason)
            sleep(min(delay, remaining))
            attempt += 1

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
            raise ExptrackError(
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
