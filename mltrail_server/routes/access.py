"""The route class of both APIs: every handler checked by the permission rule
(mltrail_server/services/access.py) on the arguments FastAPI resolved for it, just before
it runs."""

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute

from mltrail_server.dependencies import AccessDep
from mltrail_server.services.access import Access

__all__ = ["AccessRoute"]

_ACCESS_PARAMETER = "_route_access"


def guarded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` with one more parameter, the caller's `Access` (a dependency), checked
    against the endpoint's own resolved arguments before the endpoint is called."""
    signature = inspect.signature(endpoint)
    if _ACCESS_PARAMETER in signature.parameters:
        return endpoint
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{endpoint.__qualname__}: API routes are async functions")
    parameter = inspect.Parameter(
        _ACCESS_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=AccessDep
    )

    @functools.wraps(endpoint)
    async def checked(**arguments: Any) -> Any:
        access: Access = arguments.pop(_ACCESS_PARAMETER)
        await access.check(arguments)
        return await endpoint(**arguments)

    # The access parameter comes first, so the caller is known (and a missing key is a 401)
    # before any of the route's own parameters is resolved; FastAPI passes them all by name.
    parameters = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
    ]
    checked.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[parameter, *parameters]
    )
    return checked


class AccessRoute(APIRoute):
    """A route of /api/v1 or of the MLflow wire API; see the module's docstring."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, guarded(endpoint), **kwargs)
