"""The permission rule of both APIs, applied to the values a route's handler receives.

`Access.check` gets the arguments FastAPI parsed and validated for the handler (see
mltrail_server/routes/access.py): path parameters as parsed (`run_id: UUID`, `experiment_id: UUID`,
`model_id`), and arguments that name their resources themselves (`NamesTargets`): an MLflow
body model, whose ids the MLflow layer reads as its services read them, the canonical
artifact location, and a registered model's name (`RegisteredModelRef` of v1's registry
routes). Nothing is read a second time from raw bytes or from the text of the path, so no
spelling of a request can name one resource to the check and another to the handler.

Whether a request writes follows from its route: POST, PUT, PATCH and DELETE write, except
routes declared with `openapi_extra=READ_ONLY` (searches sent as POST). The same rule decides
the UI cookie's CSRF check and which requests the audit log records.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from starlette.types import Scope

from mltrail_server.services.auth import AuthService, Principal

__all__ = [
    "ACCESS_KEY",
    "READ_ONLY",
    "WRITE_METHODS",
    "Access",
    "NamesTargets",
    "RegisteredModelRef",
    "Targets",
    "request_writes",
    "route_writes",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACCESS_KEY = "x-access"
# `openapi_extra` of a POST route that only reads: any signed-in caller, no audit event.
READ_ONLY: dict[str, Any] = {ACCESS_KEY: "read"}


def route_writes(route: object, method: str) -> bool:
    """Whether `method` on `route` writes (an unmatched route writes by its method)."""
    if method not in WRITE_METHODS:
        return False
    extra = getattr(route, "openapi_extra", None) or {}
    return bool(extra.get(ACCESS_KEY) != "read")


def request_writes(scope: Scope) -> bool:
    """Whether the request writes, from the route it matched (`scope["route"]`)."""
    return route_writes(scope.get("route"), scope["method"])


@runtime_checkable
class NamesTargets(Protocol):
    """An argument that says which resources it names: an MLflow request body, whose ids
    only the MLflow layer knows how to read, or an artifact location."""

    def access_targets(self) -> "Targets": ...


@dataclass
class Targets:
    """The resources a request names, gathered from its handler's arguments."""

    runs: set[uuid.UUID] = field(default_factory=set)
    experiments: set[uuid.UUID] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    registered_models: set[str] = field(default_factory=set)  # by name

    @classmethod
    def of(cls, arguments: Mapping[str, object]) -> "Targets":
        targets = cls()
        for name, value in arguments.items():
            if isinstance(value, NamesTargets):
                targets.update(value.access_targets())
            else:
                targets.add(name, value)
        return targets

    def __bool__(self) -> bool:
        return bool(self.runs or self.experiments or self.models or self.registered_models)

    def add(self, name: str, value: object) -> None:
        """A path parameter, as parsed: `run_id` and `experiment_id` UUIDs, `model_id`."""
        if name == "run_id" and isinstance(value, uuid.UUID):
            self.runs.add(value)
        elif name == "experiment_id" and isinstance(value, uuid.UUID):
            self.experiments.add(value)
        elif name == "model_id" and isinstance(value, str):
            self.models.add(value)

    def update(self, other: "Targets") -> None:
        self.runs |= other.runs
        self.experiments |= other.experiments
        self.models |= other.models
        self.registered_models |= other.registered_models


@dataclass(frozen=True)
class RegisteredModelRef:
    """A registered model named by a route's path (v1's `/models/{name}`): writing to it
    needs its owner, a grant or an admin."""

    name: str

    def access_targets(self) -> Targets:
        return Targets(registered_models={self.name})


@dataclass
class Access:
    """The caller of one request, ready to be checked against the request's targets."""

    principal: Principal
    writes: bool
    auth: AuthService

    async def check(self, arguments: Mapping[str, object]) -> None:
        if not self.writes or self.principal.is_admin:
            return
        targets = Targets.of(arguments)
        if not targets:
            self.auth.check_create(self.principal)
        for run_id in targets.runs:
            await self.auth.check_write_run(self.principal, run_id)
        for experiment_id in targets.experiments:
            await self.auth.check_write_experiment(self.principal, experiment_id)
        for model_id in targets.models:
            await self.auth.check_write_logged_model(self.principal, model_id)
        for name in targets.registered_models:
            await self.auth.check_write_registered_model(self.principal, name)
