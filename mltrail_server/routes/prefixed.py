"""A router that looks only at requests under its path prefix.

The app's routes are tried one by one, each by its regular expression, until one matches:
a request of MLflow's wire would be tried against every /api/v1 route first (some 80
matches per request, the biggest part of the routing work of one point per request). The
/api/v1 routers are grouped under one `PrefixedRouter("/api/v1/")`, which answers "no
match" for any other path at the cost of one string comparison.
"""

from typing import Any

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["PrefixedRouter"]


class PrefixedRouter(APIRouter):
    def __init__(self, path_prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path_prefix = path_prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] == "http" and not path.startswith(self.path_prefix):
            return Match.NONE, {}
        return super().matches(scope)
