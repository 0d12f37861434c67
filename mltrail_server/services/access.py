"""The permission rule of both APIs, applied to the values a route's handler receives.

`Access.check` gets the arguments FastAPI parsed and validated for the handler (see
mltrail_server/routes/access.py): path parameters as parsed (`run_id: UUID`, `experiment_id: UUID`,
`model_id`), the validated body model (its `run_id`, `run_uuid`, `experiment_id` and
`model_id` fields, read as the MLflow services read them) and the canonical artifact
location. Nothing is read a second time from raw bytes or from the text of the path, so no
spelling of a request can name one resource to the check and another to the handler.

Whether a request writes follows from its route: POST, PUT, PATCH and DELETE write, except
routes declared with `openapi_extra=READ_ONLY` (searches sent as POST). The same rule decides
the UI cookie's CSRF check and which requests the audit log records.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.types import Scope

from mltrail_server.mlflow.translate import experiment_id_in, run_id_in
from mltrail_server.services.artifact_paths import ArtifactLocation, Owner
from mltrail_server.services.auth import AuthService, Principal

__all__ = [
    "ACCESS_KEY",
    "READ_ONLY",
    "WRITE_METHODS",
    "Access",
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


@dataclass
class Targets:
    """The resources a request names, gathered from its handler's arguments."""

    runs: set[uuid.UUID] = field(default_factory=set)
    experiments: set[uuid.UUID] = field(default_factory=set)
    models: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, arguments: Mapping[str, object]) -> "Targets":
        targets = cls()
        for name, value in arguments.items():
            if isinstance(value, ArtifactLocation):
                targets.add_location(value)
            elif isinstance(value, BaseModel):
                targets.add_body(value)
            else:
                targets.add(name, value)
        return targets

    def __bool__(self) -> bool:
        return bool(self.runs or self.experiments or self.models)

    def add(self, name: str, value: object) -> None:
        if name == "run_id" and isinstance(value, uuid.UUID):
            self.runs.add(value)
        elif name == "experiment_id" and isinstance(value, uuid.UUID):
            self.experiments.add(value)
        elif name == "model_id" and isinstance(value, str):
            self.models.add(value)

    def add_location(self, location: ArtifactLocation) -> None:
        if location.owner == Owner.RUN:
            assert location.run_id is not None
            self.runs.add(location.run_id)
        else:
            self.models.add(location.owner_id)
        self.experiments.add(location.experiment_id)

    def add_body(self, body: BaseModel) -> None:
        """The ids an MLflow request body names, read as its services read them."""
        fields = type(body).model_fields
        for name in ("run_id", "run_uuid"):
            text = getattr(body, name, None) if name in fields else None
            # An id that names no run is the handler's 404; it cannot reach anyone's run.
            if isinstance(text, str) and (run_id := run_id_in(text)) is not None:
                self.runs.add(run_id)
        if "experiment_id" in fields:
            text = getattr(body, "experiment_id", None)
            # runs/create without an experiment creates in the default experiment "0".
            self.experiments.add(experiment_id_in(text or "0"))
        if "model_id" in fields and isinstance(model_id := getattr(body, "model_id", None), str):
            self.models.add(model_id)


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
