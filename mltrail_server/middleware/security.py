"""Security headers on every response, and the request body size limit (413).

Every response gets SECURITY_HEADERS and a Content-Security-Policy unless it set its own
(artifact downloads set a sandboxing one, UI pages add the digest of their import map, the
API docs pages set `docs_policy`): HTML gets PAGE_POLICY (scripts and styles from our origin
only, nothing inline), and anything else API_POLICY.
"""

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "API_POLICY",
    "PAGE_POLICY",
    "SECURITY_HEADERS",
    "SecurityMiddleware",
    "docs_policy",
    "page_policy",
    "script_hash",
]

SECURITY_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
]

# What no page of ours needs: plugins, a <base> that moves relative URLs, being framed, forms
# posting elsewhere.
_LOCKDOWN = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

# A JSON answer, a static file: nothing in it may load or run anything.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def script_hash(source: str) -> str:
    """The CSP source that allows exactly one inline script, by the digest of its text."""
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def page_policy(script_hashes: Iterable[str] = ()) -> str:
    """The UI pages' policy: scripts, styles, images and connections (fetch, EventSource)
    from our origin only; no inline script or style but the scripts of `script_hashes`."""
    scripts = " ".join(["'self'", *script_hashes])
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self'; manifest-src 'self'; {_LOCKDOWN}"
    )


PAGE_POLICY = page_policy()


def docs_policy(script_hashes: Iterable[str] = ()) -> str:
    """The API docs pages' policy (/docs, /redoc): Swagger UI and ReDoc from our origin, and
    the one inline script that starts Swagger UI by its digest. Both set inline styles, and
    ReDoc runs a worker from a blob; the pages hold no user data, and still may not be
    framed or post elsewhere."""
    scripts = " ".join(["'self'", *script_hashes])
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; {_LOCKDOWN}"
    )


# Artifact uploads stream to disk and have their own, larger limit.
UNLIMITED_PATHS = re.compile(r"^/api/2\.0/mlflow-artifacts/|^/api/v1/runs/[^/]+/artifacts/")


def _policy(headers: MutableHeaders) -> str:
    return PAGE_POLICY if headers.get("content-type", "").startswith("text/html") else API_POLICY


class BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", _policy(headers))
            await send(message)

        if UNLIMITED_PATHS.match(scope["path"]):
            await self.app(scope, receive, send_with_headers)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send_with_headers)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send_with_headers)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"Request body larger than the limit of {self.max_body_bytes} bytes"},
            status_code=413,
        )
        await response(scope, receive, send)
