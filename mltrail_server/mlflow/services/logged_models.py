"""Logged models, what MLflow 3's `<flavor>.log_model` records: create (PENDING), upload the
files as artifacts under `<experiment>/models/<id>/artifacts`, then finalize (READY).

Search filters on attributes (`name`, `model_id`, `model_type`, `status`, `source_run_id`,
`creation_timestamp`, `last_updated_timestamp`), `tags.<key>` and `params.<key>` (not on
metrics), in SQL (`db.repositories.logged_models`), paged with the one page token.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import logged_models as models_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.tables import ACTIVE, DELETED, Experiment
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.db.types import utcnow
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.services.runs import generated_run_name
from mltrail_server.mlflow.translate import (
    ARTIFACT_SCHEME,
    experiment_id_in,
    run_id_in,
)
from mltrail_server.search import (
    LOGGED_MODELS,
    And,
    Comparison,
    Expr,
    decode_page_token,
    encode_page_token,
    read_filter,
    read_order_fields,
    search_fingerprint,
)
from mltrail_server.services.artifact_paths import model_artifact_prefix
from mltrail_server.services.cache import Cache

DEFAULT_MAX_RESULTS = 50
MAX_RESULTS = 1000
MAX_NAME_LENGTH = 500


def logged_model_location(experiment: Experiment, model_id: str) -> str:
    """Where a new logged model's files go: under the experiment's own artifact location
    when it has one, else in this server's store (MLflow's layout)."""
    if experiment.artifact_location:
        return f"{experiment.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
    return f"{ARTIFACT_SCHEME}/{model_artifact_prefix(experiment.id, model_id)}"


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
        location = logged_model_location(experiment, model_id)
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
        await models_repo.add(self.session, row)
        await self.session.flush()
        return render.logged_model(row)

    async def get(self, model_id: str) -> wire.LoggedModel:
        return (await self._render([await self._row(model_id)]))[0]

    async def finalize(self, model_id: str, status: wire.LoggedModelStatus) -> wire.LoggedModel:
        row = await self._row(model_id)
        row.status = render.MODEL_STATUS_IN[status]
        row.updated_at = utcnow()
        await self.session.flush()
        return (await self._render([row]))[0]

    async def delete(self, model_id: str) -> None:
        row = await self._row(model_id)
        row.lifecycle = DELETED
        row.updated_at = utcnow()
        await self.session.flush()

    async def set_tags(self, model_id: str, tags: list[wire.KeyValue]) -> None:
        row = await self._row(model_id)
        row.tags = _dump({**json.loads(row.tags), **_pairs(tags, "tag")})
        row.updated_at = utcnow()
        await self.session.flush()

    async def delete_tag(self, model_id: str, key: str) -> None:
        row = await self._row(model_id)
        tags = json.loads(row.tags)
        if tags.pop(key, None) is None:
            raise NotFound(f"No tag with key {key!r} on logged model {model_id}")
        row.tags = _dump(tags)
        row.updated_at = utcnow()
        await self.session.flush()

    async def log_params(self, model_id: str, params: list[wire.KeyValue]) -> None:
        row = await self._row(model_id)
        row.params = _dump({**json.loads(row.params), **_pairs(params, "param")})
        row.updated_at = utcnow()
        await self.session.flush()

    async def search(self, request: wire.SearchLoggedModels) -> wire.SearchLoggedModelsResponse:
        limit = request.max_results or DEFAULT_MAX_RESULTS
        if not 0 < limit <= MAX_RESULTS:
            raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS}. Got {limit}.")
        if any(not item.dataset_name for item in request.datasets):
            raise InvalidInput("`dataset_name` in the `datasets` clause must be specified.")
        datasets = [
            (item.dataset_name or "", item.dataset_digest or None) for item in request.datasets
        ]
        where = read_filter(request.filter, LOGGED_MODELS)
        where = None if where is None else _stored_values(where)
        order_by = read_order_fields(
            [(item.field_name, item.ascending) for item in request.order_by], LOGGED_MODELS
        )
        experiment_ids = [
            experiment_id_in(text, "experiment_ids") for text in request.experiment_ids
        ]
        fingerprint = search_fingerprint(
            sorted(map(str, experiment_ids)), where, order_by, sorted(map(repr, datasets))
        )
        offset = decode_page_token(
            request.page_token, fingerprint, same="experiment_ids, filter, order_by and datasets"
        )
        rows = await models_repo.search_logged_models(
            self.session,
            experiment_ids=experiment_ids,
            lifecycle=ACTIVE,
            where=where,
            order_by=order_by,
            offset=offset,
            limit=limit + 1,  # one more tells whether there is a next page
            datasets=datasets,
        )
        return wire.SearchLoggedModelsResponse(
            models=await self._render(rows[:limit]),
            next_page_token=encode_page_token(offset + limit, fingerprint)
            if len(rows) > limit
            else None,
        )

    async def _render(self, rows: Sequence[LoggedModelRow]) -> list[wire.LoggedModel]:
        metrics = await models_repo.metrics_of(self.session, [row.id for row in rows])
        return [render.logged_model(row, metrics[row.id]) for row in rows]

    async def _row(self, model_id: str) -> LoggedModelRow:
        row = await models_repo.get(self.session, model_id)
        if row is None or row.lifecycle != ACTIVE:
            raise model_not_found(model_id)
        return row


def _pairs(items: list[wire.KeyValue], kind: str) -> dict[str, str]:
    return {check_key(item.key, kind): item.value for item in items}


def _dump(values: dict[str, str]) -> str:
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


def _stored_values(where: Expr) -> Expr:
    """`status` as stored (`READY`, also when given as the proto's `LOGGED_MODEL_READY`)."""
    if isinstance(where, And):
        return And(tuple(_stored_values(item) for item in where.items))
    if (
        isinstance(where, Comparison)
        and (where.entity, where.key) == ("attribute", "status")
        and where.op in ("=", "!=")
        and isinstance(where.value, str)
    ):
        return replace(where, value=_short_status(where.value))
    return where


def _short_status(name: str) -> str:
    for status, short in render.MODEL_STATUS_IN.items():
        if name == status.value:
            return short
    return name
