"""Request id, timing and the access log (the seed's timing middleware), and the last line
of defence: an unexpected error becomes a 500 that carries the request id and no internals.

A client that goes away before its request body has arrived (an upload cut off) is not a
server error: its access-log line says so, with status 499 (in the metrics too), and no
traceback is logged."""

import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mltrail_server.routes.observability import observe
from mltrail_server.services.access import request_writes

logger = logging.getLogger("mltrail_server.access")
error_logger = logging.getLogger("mltrail_server.errors")

REQUEST_ID_HEADER = b"x-request-id"
# nginx's "client closed request": nobody receives it, it only labels the log and metrics.
CLIENT_CLOSED_REQUEST = 499
_VALID_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")


def route_template(scope: Scope) -> str:
    """The matched route's full template (`/api/v1/runs/{run_id}`), so that metrics labels do
    not grow with every id. FastAPI keeps the matched route's full path in its scope entry; the
    route object itself only knows its path inside its router."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if template:
        return str(template)
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = incoming.decode() if _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                elapsed = time.perf_counter() - start
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-process-time", f"{elapsed:.4f}".encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST  # and no answer: nobody is there to read it
        except Exception:
            error_logger.exception(
                "unhandled error", extra={"request_id": request_id, "path": scope["path"]}
            )
            if started:
                raise
            response = JSONResponse(
                {"detail": "Internal server error", "request_id": request_id}, status_code=500
            )
            await response(scope, receive, send_with_headers)
        finally:
            principal = scope["state"].get("principal")
            elapsed = time.perf_counter() - start
            observe(scope["method"], route_template(scope), status, elapsed)
            await self._audit(scope, status, principal, request_id)
            logger.info(
                "%s %s %s%s",
                scope["method"],
                scope["path"],
                status,
                " (client disconnected before the request body arrived)"
                if status == CLIENT_CLOSED_REQUEST
                else "",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                    "client": (scope.get("client") or ("", 0))[0],
                    "principal": principal,
                    # The run a v1 route names in its path (set by routing on this scope).
                    "run_id": (scope.get("path_params") or {}).get("run_id"),
                },
            )

    @staticmethod
    async def _audit(scope: Scope, status: int, principal: str | None, request_id: str) -> None:
        # The APIs: /api/..., and /ajax-api/..., where MLflow's UI sends the same writes.
        if not request_writes(scope) or not scope["path"].startswith(("/api/", "/ajax-api/")):
            return
        app = scope.get("app")
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is None:
            return
        try:
            database, _ = await runtime.resources()
            await runtime.audit.record(
                database,
                principal=principal,
                method=scope["method"],
                path=scope["state"].get("audit_path", scope["path"])[:2000],
                status=status,
                client=(scope.get("client") or ("", 0))[0][:64] or None,
                request_id=request_id,
            )
        except Exception as exc:  # auditing must never break the request
            error_logger.warning("audit event not recorded: %s", exc)
