"""Logged models, what MLflow 3's `<flavor>.log_model` records: create (PENDING), upload the
files as artifacts under `<experiment>/models/<id>/artifacts`, then finalize (READY).

Search filters on attributes (`name`, `model_id`, `model_type`, `status`, `source_run_id`,
`creation_timestamp`, `last_updated_timestamp`), `tags.<key>` and `params.<key>` (not on
metrics), evaluated over the experiments' models in memory: fine for the handful of models an
experiment holds.
"""

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.repositories import tracking as repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.db.types import utcnow
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.search import LOGGED_MODEL_FILTER, parse_clauses
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.services.runs import generated_run_name
from mltrail_server.mlflow.translate import (
    ARTIFACT_SCHEME,
    experiment_id_in,
    model_artifact_prefix,
    run_id_in,
    to_ms,
)
from mltrail_server.services.cache import Cache
from mltrail_server.services.search_filter import Comparison

DEFAULT_MAX_RESULTS = 50
MAX_RESULTS = 1000
MAX_NAME_LENGTH = 500
ORDER_FIELDS = {
    "creation_timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "name": "name",
    "model_id": "model_id",
}


def model_not_found(model_id: str) -> NotFound:
    return NotFound(f"Logged model with ID '{model_id}' not found.")


@dataclass
class LoggedModelService:
    session: AsyncSession
    cache: Cache
    cache_ttl: int

    async def create(self, request: wire.CreateLoggedModel) -> wire.LoggedModel:
        experiments = MlflowExperimentService(self.session, self.cache, self.cache_ttl)
        experiment = await experiments.active_row(request.experiment_id)
        name = request.name or generated_run_name()
        if len(name) > MAX_NAME_LENGTH or len(request.model_type or "") > MAX_NAME_LENGTH:
            raise InvalidInput(
                f"'name' and 'model_type' may have at most {MAX_NAME_LENGTH} characters."
            )
        source_run = run_id_in(request.source_run_id) if request.source_run_id else None
        if source_run is not None and await runs_repo.get_any(self.session, source_run) is None:
            source_run = None
        model_id = f"m-{uuid.uuid4().hex}"
        if experiment.artifact_location:
            location = f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
        else:
            location = f"{ARTIFACT_SCHEME}/{model_artifact_prefix(experiment.id, model_id)}"
        now = utcnow()
        row = LoggedModelRow(
            id=model_id,
            experiment_id=experiment.id,
            name=name,
            model_type=request.model_type or None,
            source_run_id=source_run,
            status="PENDING",
            artifact_location=location,
            tags=_dump(_pairs(request.tags, "tag")),
            params=_dump(_pairs(request.params, "param")),
            lifecycle=ACTIVE,
            created_at=now,
            updated_at=now,
        )
        await repo.add_logged_model(self.session, row)
        await self.session.commit()
        return render.logged_model(row)

    async def get(self, model_id: str) -> wire.LoggedModel:
        return render.logged_model(await self._row(model_id))

    async def finalize(self, model_id: str, status: wire.LoggedModelStatus) -> wire.LoggedModel:
        row = await self._row(model_id)
        row.status = render.MODEL_STATUS_IN[status]
        row.updated_at = utcnow()
        await self.session.commit()
        return render.logged_model(row)

    async def delete(self, model_id: str) -> None:
        row = await self._row(model_id)
        row.lifecycle = DELETED
        row.updated_at = utcnow()
        await self.session.commit()

    async def set_tags(self, model_id: str, tags: list[wire.KeyValue]) -> None:
        row = await self._row(model_id)
        row.tags = _dump({**json.loads(row.tags), **_pairs(tags, "tag")})
        row.updated_at = utcnow()
        await self.session.commit()

    async def delete_tag(self, model_id: str, key: str) -> None:
        row = await self._row(model_id)
        tags = json.loads(row.tags)
        if tags.pop(key, None) is None:
            raise NotFound(f"No tag with key {key!r} on logged model {model_id}")
        row.tags = _dump(tags)
        row.updated_at = utcnow()
        await self.session.commit()

    async def log_params(self, model_id: str, params: list[wire.KeyValue]) -> None:
        row = await self._row(model_id)
        row.params = _dump({**json.loads(row.params), **_pairs(params, "param")})
        row.updated_at = utcnow()
        await self.session.commit()

    async def search(self, request: wire.SearchLoggedModels) -> wire.SearchLoggedModelsResponse:
        limit = request.max_results or DEFAULT_MAX_RESULTS
        if not 0 < limit <= MAX_RESULTS:
            raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS}. Got {limit}.")
        clauses = parse_clauses(request.filter, LOGGED_MODEL_FILTER)
        order = []
        for item in request.order_by:
            field = ORDER_FIELDS.get(item.field_name.removeprefix("attributes."))
            if field is None:
                raise InvalidInput(
                    f"Invalid order_by field {item.field_name!r} for logged models; allowed: "
                    f"{', '.join(ORDER_FIELDS)}"
                )
            order.append((field, item.ascending))
        experiment_ids = [
            experiment_id_in(text, "experiment_ids") for text in request.experiment_ids
        ]
        rows = await repo.list_logged_models(self.session, experiment_ids, lifecycle=ACTIVE)
        matches = [row for row in rows if all(_matches(row, clause) for clause in clauses)]
        matches.sort(key=lambda row: row.id)
        for field, ascending in reversed(order or [("creation_timestamp", False)]):
            matches.sort(key=_SORT_KEYS[field], reverse=not ascending)
        offset = _decode_offset(request.page_token)
        page = matches[offset : offset + limit]
        more = offset + limit < len(matches)
        return wire.SearchLoggedModelsResponse(
            models=[render.logged_model(row) for row in page],
            next_page_token=_encode_offset(offset + limit) if more else None,
        )

    async def _row(self, model_id: str) -> LoggedModelRow:
        row = await repo.get_logged_model(self.session, model_id)
        if row is None or row.lifecycle != ACTIVE:
            raise model_not_found(model_id)
        return row


def _pairs(items: list[wire.KeyValue], kind: str) -> dict[str, str]:
    return {check_key(item.key, kind): item.value for item in items}


def _dump(values: dict[str, str]) -> str:
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


_SORT_KEYS: dict[str, Callable[[LoggedModelRow], Any]] = {
    "creation_timestamp": lambda row: row.created_at,
    "last_updated_timestamp": lambda row: row.updated_at,
    "name": lambda row: row.name,
    "model_id": lambda row: row.id,
}


def _attribute(row: LoggedModelRow, key: str) -> str | int | None:
    values: dict[str, str | int | None] = {
        "name": row.name,
        "model_id": row.id,
        "model_type": row.model_type,
        "status": row.status,
        "source_run_id": None if row.source_run_id is None else row.source_run_id.hex,
        "creation_timestamp": to_ms(row.created_at),
        "last_updated_timestamp": to_ms(row.updated_at),
    }
    return values[key]


def _matches(row: LoggedModelRow, clause: Comparison) -> bool:
    if clause.entity == "attribute":
        actual = _attribute(row, clause.key)
        expected = clause.value
        if clause.key == "status" and isinstance(expected, str):
            expected = _short_status(expected)
        if clause.key == "source_run_id":
            expected = _normalize_ids(expected)
    else:
        stored = json.loads(row.tags if clause.entity == "tag" else row.params)
        actual, expected = stored.get(clause.key), clause.value
        if clause.op == "IS NULL":
            return actual is None
        if clause.op == "IS NOT NULL":
            return actual is not None
    if actual is None:
        return False
    return _compare(actual, clause.op, expected)


def _short_status(name: str) -> str:
    """`READY` as stored, also when given as the proto's `LOGGED_MODEL_READY`."""
    for status, short in render.MODEL_STATUS_IN.items():
        if name == status.value:
            return short
    return name


def _normalize_ids(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_normalize_ids(item) for item in value)
    parsed = run_id_in(value) if isinstance(value, str) else None
    return parsed.hex if parsed is not None else value


def _compare(actual: str | int, op: str, expected: Any) -> bool:
    match op:
        case "=":
            return bool(actual == expected)
        case "!=":
            return bool(actual != expected)
        case "IN":
            return actual in expected
        case "NOT IN":
            return actual not in expected
        case "LIKE" | "ILIKE":
            return _like(str(expected), op == "ILIKE").fullmatch(str(actual)) is not None
    if not isinstance(actual, int) or not isinstance(expected, int):
        return False
    return {
        ">": actual > expected,
        ">=": actual >= expected,
        "<": actual < expected,
        "<=": actual <= expected,
    }[op]


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join({"%": ".*", "_": "."}.get(char) or re.escape(char) for char in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        offset = None
    if type(offset) is not int or offset < 0:
        raise InvalidInput("Invalid page_token: not a token this server issued.")
    return offset
