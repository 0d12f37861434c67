"""The route class of both APIs, the boundary of every API request: each handler is checked
by the permission rule (mltrail_server/services/access.py) on the arguments FastAPI resolved
for it, just before it runs, and a request that writes is committed once, when its handler
returned (mltrail_server/db/unit_of_work.py). A handler that raises commits nothing."""

import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.unit_of_work import commit
from mltrail_server.dependencies import AccessDep, SessionDep
from mltrail_server.services.access import Access

__all__ = ["AccessRoute"]

_ACCESS_PARAMETER = "_route_access"
_SESSION_PARAMETER = "_route_session"


def guarded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` with two more parameters: the caller's `Access`, checked against the
    endpoint's own resolved arguments before the endpoint is called, and the request's
    session (the one its services use), committed after it if the request writes."""
    signature = inspect.signature(endpoint)
    if _ACCESS_PARAMETER in signature.parameters:
        return endpoint
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{endpoint.__qualname__}: API routes are async functions")
    keyword = inspect.Parameter.KEYWORD_ONLY
    access_parameter = inspect.Parameter(_ACCESS_PARAMETER, keyword, annotation=AccessDep)
    session_parameter = inspect.Parameter(_SESSION_PARAMETER, keyword, annotation=SessionDep)

    @functools.wraps(endpoint)
    async def checked(**arguments: Any) -> Any:
        access: Access = arguments.pop(_ACCESS_PARAMETER)
        session: AsyncSession = arguments.pop(_SESSION_PARAMETER)
        await access.check(arguments)
        result = await endpoint(**arguments)
        if access.writes:
            await commit(session)
        return result

    # The access parameter comes first, so the caller is known (and a missing key is a 401)
    # before any of the route's own parameters is resolved; FastAPI passes them all by name.
    parameters = [p.replace(kind=keyword) for p in signature.parameters.values()]
    checked.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[access_parameter, session_parameter, *parameters]
    )
    return checked


class JsonRequest(Request):
    """A request whose JSON body is parsed by orjson (a 1,000-point batch in a third of the
    time); what orjson refuses and the standard library takes (NaN and Infinity literals,
    integers beyond 64 bits, lone surrogates) is parsed as before, errors included."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class AccessRoute(APIRoute):
    """A route of /api/v1 or of the MLflow wire API; see the module's docstring."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, guarded(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def json_handler(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive, request._send))

        return json_handler
