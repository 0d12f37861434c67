"""The model registry from the SDK: `client.models` lists, shows, registers, aliases and
deletes registered models and their versions (`/api/v1/models`)."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from mltrail.errors import Conflict
from mltrail.transport import Transport

__all__ = ["ModelVersion", "Models", "RegisteredModel"]

PAGE_SIZE = 100


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    source: str
    run_id: str | None
    logged_model_id: str | None
    status: str
    stage: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            source=str(data["source"]),
            run_id=data.get("run_id"),
            logged_model_id=data.get("logged_model_id"),
            status=str(data.get("status") or ""),
            stage=str(data.get("stage") or ""),
            description=data.get("description"),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
            tags=dict(data.get("tags") or {}),
            aliases=tuple(data.get("aliases") or ()),
        )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    owner: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    versions_count: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: tuple[ModelVersion, ...] = ()  # filled by `get`, newest first

    @classmethod
    def from_json(
        cls, data: dict[str, Any], versions: tuple[ModelVersion, ...] = ()
    ) -> RegisteredModel:
        return cls(
            name=str(data["name"]),
            owner=str(data.get("owner") or ""),
            description=data.get("description"),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
            latest_version=data.get("latest_version"),
            versions_count=int(data.get("versions_count") or 0),
            tags=dict(data.get("tags") or {}),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            versions=versions,
        )


def _path(name: str) -> str:
    """A model's path: its name is one percent-encoded segment (names hold no '/')."""
    return f"/api/v1/models/{quote(name, safe='')}"


def source_of(run_or_uri: str, path: str = "model") -> tuple[str, str | None]:
    """A registration source and its run: a bare run id means `runs:/<id>/<path>`."""
    try:
        run_id = uuid.UUID(run_or_uri)
    except ValueError:
        return run_or_uri, None
    return f"runs:/{run_id.hex}/{path.strip('/')}", str(run_id)


class Models:
    """`client.models`: the registry's models and versions."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self, *, filter: str | None = None) -> list[RegisteredModel]:
        """Every registered model matching `filter` (MLflow's filter language), by name."""
        found: list[RegisteredModel] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": PAGE_SIZE}
            if filter:
                params["filter"] = filter
            body = self._transport.json("GET", "/api/v1/models", params=params)
            found += [RegisteredModel.from_json(item) for item in body["items"]]
            if page >= int(body["pages"]):
                return found
            page += 1

    def get(self, name: str) -> RegisteredModel:
        """A model with its versions, newest first (the first hundred)."""
        model = self._transport.json("GET", _path(name))
        versions = self._transport.json(
            "GET", f"{_path(name)}/versions", params={"per_page": PAGE_SIZE}
        )
        listed = tuple(ModelVersion.from_json(item) for item in versions["items"])
        return RegisteredModel.from_json(model, listed)

    def create(self, name: str, *, description: str | None = None) -> RegisteredModel:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        return RegisteredModel.from_json(self._transport.json("POST", "/api/v1/models", json=body))

    def register(
        self, run_or_uri: str, name: str, *, path: str = "model", description: str | None = None
    ) -> ModelVersion:
        """A new version of `name` (created if needed) from a run id (its files at `path`),
        a `runs:/…` or `models:/m-…` URI, or any artifact URI."""
        with contextlib.suppress(Conflict):  # registered already
            self.create(name)
        source, run_id = source_of(run_or_uri, path)
        body: dict[str, Any] = {"source": source}
        if run_id is not None:
            body["run_id"] = run_id
        if description is not None:
            body["description"] = description
        made = self._transport.json("POST", f"{_path(name)}/versions", json=body)
        return ModelVersion.from_json(made)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._transport.request(
            "PUT", f"{_path(name)}/aliases/{quote(alias, safe='')}", json={"version": version}
        )

    def delete(self, name: str, *, version: int | None = None) -> None:
        """Delete a model with all its versions, or only `version`."""
        target = _path(name) if version is None else f"{_path(name)}/versions/{version}"
        self._transport.request("DELETE", target)
