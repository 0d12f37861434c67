"""Starts a principal's read-your-writes window when one of its writes is answered
(services/read_routing.py): before the response leaves, so the client's next read, on any
worker, already goes to the primary. Installed only when there is a read replica."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mltrail_server.services.access import request_writes
from mltrail_server.services.read_routing import ReadRouting

__all__ = ["ReadYourWritesMiddleware"]


class ReadYourWritesMiddleware:
    def __init__(self, app: ASGIApp, routing: ReadRouting) -> None:
        self.app = app
        self.routing = routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_after_marking(message: Message) -> None:
            # A refused write (4xx, 5xx) changed nothing: nothing to read back.
            if message["type"] == "http.response.start" and message["status"] < 400:
                principal = scope.get("state", {}).get("principal")
                if principal is not None and request_writes(scope):
                    await self.routing.writers.wrote(principal)
            await send(message)

        await self.app(scope, receive, send_after_marking)
