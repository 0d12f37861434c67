"""MLflow's experiment rules over our experiment rows.

- Names are MLflow's: free-form, 1-500 characters, case kept, unique among live *and* deleted
  experiments (a v1 experiment name is a valid MLflow name, not the other way round). In v1
  such an experiment appears as it is, and `GET /api/v1/experiments?name=` (which lowercases)
  finds it only if its name is lowercase.
- The default experiment "0" ("Default") is created on first use.
- Deleting is soft; rename, delete and restore go through the v1 service, so v1's cached pages
  are invalidated the same way.
"""

import hashlib
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import experiments as repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.db.tables import Experiment as ExperimentRow
from mltrail_server.db.types import utcnow
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.search import (
    EXPERIMENT_FILTER,
    parse_clauses,
    parse_order_clause,
)
from mltrail_server.mlflow.translate import (
    DEFAULT_EXPERIMENT_NAME,
    DEFAULT_EXPERIMENT_UUID,
    experiment_id_in,
    experiment_id_out,
)
from mltrail_server.models.experiment import ExperimentStatus, ExperimentUpdate
from mltrail_server.services.cache import Cache
from mltrail_server.services.experiments import LIST, ExperimentService, experiment_key
from mltrail_server.services.run_search import decode_page_token, encode_page_token
from mltrail_server.services.search_filter import Comparison

MAX_NAME_LENGTH = 500
MAX_TAG_VALUE_LENGTH = 20_000
MAX_SEARCH_RESULTS = 50_000
MLFLOW_OWNER = "mlflow"
ORDER_FIELDS = ("name", "experiment_id", "creation_time", "last_update_time")
VIEW_LIFECYCLES = {
    wire.ViewType.ACTIVE_ONLY: ACTIVE,
    wire.ViewType.DELETED_ONLY: DELETED,
    wire.ViewType.ALL: None,
}


def check_name(name: str, field: str = "name") -> str:
    if not name or not name.strip():
        raise InvalidInput(f"Invalid experiment name: '{field}' must not be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"Invalid experiment name: '{field}' must be at most {MAX_NAME_LENGTH} "
            f"characters (got {len(name)})."
        )
    return name


def check_experiment_tag(key: str, value: str) -> None:
    check_key(key, "tag")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"Tag value for key {key!r} exceeds the maximum length of {MAX_TAG_VALUE_LENGTH} "
            f"characters (got {len(value)})."
        )


def already_exists(name: str) -> Conflict:
    return Conflict(f"Experiment(name={name}) already exists.")


@dataclass
class MlflowExperimentService:
    session: AsyncSession
    cache: Cache
    cache_ttl: int

    async def ensure_default(self) -> None:
        """Create the default experiment "0" unless it exists (live or deleted)."""
        if await repo.get(self.session, DEFAULT_EXPERIMENT_UUID, include_deleted=True):
            return
        now = utcnow()
        await repo.add_if_missing(
            self.session,
            {
                "id": DEFAULT_EXPERIMENT_UUID,
                "name": DEFAULT_EXPERIMENT_NAME,
                "owner": MLFLOW_OWNER,
                "status": ExperimentStatus.CREATED.value,
                "lifecycle": ACTIVE,
                "created_at": now,
                "updated_at": now,
            },
        )
        await self.session.commit()
        if await repo.get(self.session, DEFAULT_EXPERIMENT_UUID, include_deleted=True) is None:
            raise InvalidInput(
                "The default experiment '0' cannot be created: an experiment named "
                f"{DEFAULT_EXPERIMENT_NAME!r} already exists; rename it"
            )
        await self.cache.bump(LIST)

    async def row(self, experiment_id: str, field: str = "experiment_id") -> ExperimentRow:
        """The experiment, live or deleted; 404 when there is none."""
        key = experiment_id_in(experiment_id, field)
        if key == DEFAULT_EXPERIMENT_UUID:
            await self.ensure_default()
        row = await repo.get(self.session, key, include_deleted=True)
        if row is None:
            raise NotFound(f"No Experiment with id={experiment_id} exists")
        return row

    async def active_row(self, experiment_id: str) -> ExperimentRow:
        row = await self.row(experiment_id)
        if row.lifecycle != ACTIVE:
            raise InvalidInput(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle}."
            )
        return row

    async def create(self, request: wire.CreateExperiment, owner: str = MLFLOW_OWNER) -> str:
        name = check_name(request.name)
        tags = {}
        for tag in request.tags:
            check_experiment_tag(tag.key, tag.value)
            tags[tag.key] = tag.value
        if name == DEFAULT_EXPERIMENT_NAME:
            await self.ensure_default()
        if await repo.name_in_use(self.session, name):
            raise already_exists(name)
        now = utcnow()
        row = ExperimentRow(
            name=name,
            owner=owner,
            status=ExperimentStatus.CREATED.value,
            artifact_location=request.artifact_location or None,
            created_at=now,
            updated_at=now,
        )
        try:
            await repo.add(self.session, row)
            await repo.set_tags(self.session, row.id, tags)
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise already_exists(name) from None
        await self.cache.bump(LIST)
        return experiment_id_out(row.id)

    async def get(self, experiment_id: str) -> wire.Experiment:
        return await self._render(await self.row(experiment_id))

    async def get_by_name(self, name: str) -> wire.Experiment:
        if name == DEFAULT_EXPERIMENT_NAME:
            await self.ensure_default()
        row = await repo.get_by_name_any(self.session, name)
        if row is None:
            raise NotFound(f"Could not find experiment with name '{name}'")
        return await self._render(row)

    async def search(self, request: wire.SearchExperiments) -> wire.SearchExperimentsResponse:
        limit = request.max_results
        if limit is None or limit <= 0:
            raise InvalidInput(
                "Invalid value for parameter 'max_results': it must be a positive integer "
                f"(got {limit})."
            )
        if limit > MAX_SEARCH_RESULTS:
            raise InvalidInput(
                f"Invalid value {limit} for parameter 'max_results': it must be at most "
                f"{MAX_SEARCH_RESULTS}."
            )
        clauses = [
            _canonical_ids(clause) for clause in parse_clauses(request.filter, EXPERIMENT_FILTER)
        ]
        order_by = [
            parse_order_clause(clause, ORDER_FIELDS, "experiments") for clause in request.order_by
        ]
        if len({field for field, _ in order_by}) < len(order_by):
            raise InvalidInput(f"Invalid order_by {request.order_by!r}: a field is given twice.")
        if not order_by:
            order_by = [("creation_time", False)]
        lifecycle = VIEW_LIFECYCLES[request.view_type]
        fingerprint = hashlib.sha256(repr((clauses, order_by, lifecycle)).encode()).hexdigest()[:16]
        offset = decode_page_token(request.page_token, fingerprint)
        if lifecycle != DELETED:
            await self.ensure_default()
        rows = await repo.search(
            self.session,
            lifecycle=lifecycle,
            clauses=clauses,
            order_by=order_by,
            offset=offset,
            limit=limit + 1,
        )
        page = rows[:limit]
        tags = await repo.load_tags(self.session, [row.id for row in page])
        return wire.SearchExperimentsResponse(
            experiments=[render.experiment(row, tags[row.id]) for row in page],
            next_page_token=encode_page_token(offset + limit, fingerprint)
            if len(rows) > limit
            else None,
        )

    async def rename(self, experiment_id: str, new_name: str) -> None:
        row = await self.active_row(experiment_id)
        name = check_name(new_name, "new_name")
        if name == row.name:
            return
        if await repo.name_in_use(self.session, name, other_than=row.id):
            raise already_exists(name)
        update = ExperimentUpdate.model_construct(name=name)  # MLflow's name rules, not v1's
        await self._v1().update_experiment(row.id, update)

    async def delete(self, experiment_id: str) -> None:
        row = await self.row(experiment_id)
        if row.lifecycle == ACTIVE:
            await self._v1().delete_experiment(row.id, purge=False)

    async def restore(self, experiment_id: str) -> None:
        row = await self.row(experiment_id)
        if row.lifecycle != ACTIVE:
            await self._v1().restore_experiment(row.id)

    async def set_tag(self, experiment_id: str, key: str, value: str) -> None:
        row = await self.active_row(experiment_id)
        check_experiment_tag(key, value)
        await repo.set_tags(self.session, row.id, {key: value})
        await self.session.commit()
        await self.cache.bump(experiment_key(row.id))

    async def delete_tag(self, experiment_id: str, key: str) -> None:
        row = await self.active_row(experiment_id)
        if not await repo.delete_tag(self.session, row.id, key):
            raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
        await self.session.commit()
        await self.cache.bump(experiment_key(row.id))

    async def _render(self, row: ExperimentRow) -> wire.Experiment:
        tags = await repo.load_tags(self.session, [row.id])
        return render.experiment(row, tags[row.id])

    def _v1(self) -> ExperimentService:
        return ExperimentService(self.session, self.cache, self.cache_ttl)


def _canonical_ids(clause: Comparison) -> Comparison:
    """`experiment_id` values as canonical UUID strings; a value that is no id of ours
    matches nothing."""
    if clause.entity != "attribute" or clause.key != "experiment_id":
        return clause
    values = clause.value if isinstance(clause.value, tuple) else (str(clause.value),)
    ids = []
    for value in values:
        try:
            ids.append(str(experiment_id_in(str(value))))
        except InvalidInput:
            continue
    op = {"=": "IN", "!=": "NOT IN"}.get(clause.op, clause.op)
    return Comparison(clause.entity, clause.key, op, tuple(ids))
