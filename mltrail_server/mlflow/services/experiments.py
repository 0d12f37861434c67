"""MLflow's experiment rules over our experiment rows.

- Names are MLflow's: free-form, 1-500 characters, case kept, unique among live *and* deleted
  experiments (a v1 experiment name is a valid MLflow name, not the other way round). In v1
  such an experiment appears as it is, and `GET /api/v1/experiments?name=` (which lowercases)
  finds it only if its name is lowercase.
- The default experiment "0" ("Default") is created on first use.
- Deleting is soft; rename, delete and restore go through the v1 service, so v1's cached pages
  are invalidated the same way.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import experiment_search
from mltrail_server.db.repositories import experiments as repo
from mltrail_server.db.tables import ACTIVE, DEFAULT_EXPERIMENT_UUID, DELETED
from mltrail_server.db.tables import Experiment as ExperimentRow
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit, transaction
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.errors import max_results_above, max_results_not_positive
from mltrail_server.mlflow.translate import (
    DEFAULT_EXPERIMENT_NAME,
    experiment_id_in,
    experiment_id_or_none,
    experiment_id_out,
)
from mltrail_server.models.experiment import ExperimentStatus, ExperimentUpdate
from mltrail_server.search import (
    EXPERIMENTS,
    And,
    Comparison,
    Expr,
    decode_page_token,
    encode_page_token,
    read_filter,
    read_order_by,
    search_fingerprint,
)
from mltrail_server.services.cache import Cache
from mltrail_server.services.experiments import LIST, ExperimentService, experiment_key

MAX_NAME_LENGTH = 500
MAX_TAG_VALUE_LENGTH = 20_000
MAX_SEARCH_RESULTS = 50_000
MLFLOW_OWNER = "mlflow"
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
    # Opens a write session, for a request that only reads (see `ensure_default`).
    default_writer: Callable[[], AsyncSession] | None = None

    async def ensure_default(self) -> ExperimentRow:
        """The default experiment "0" (live or deleted), created unless it exists. A request
        that only reads creates it in a transaction of its own (`default_writer`), committed
        at once, and gets the row from there (its own session may be on a replica)."""
        row = await repo.get(self.session, DEFAULT_EXPERIMENT_UUID, include_deleted=True)
        if row is not None:
            return row
        now = utcnow()
        values = {
            "id": DEFAULT_EXPERIMENT_UUID,
            "name": DEFAULT_EXPERIMENT_NAME,
            "owner": MLFLOW_OWNER,
            "status": ExperimentStatus.CREATED.value,
            "lifecycle": ACTIVE,
            "created_at": now,
            "updated_at": now,
        }
        if self.default_writer is None:
            await repo.add_if_missing(self.session, values)
            row = await repo.get(self.session, DEFAULT_EXPERIMENT_UUID, include_deleted=True)
            after_commit(self.session, lambda: self.cache.bump(LIST))
        else:
            async with transaction(self.default_writer()) as session:
                await repo.add_if_missing(session, values)
                row = await repo.get(session, DEFAULT_EXPERIMENT_UUID, include_deleted=True)
            await self.cache.bump(LIST)
        if row is None:
            raise InvalidInput(
                "The default experiment '0' cannot be created: an experiment named "
                f"{DEFAULT_EXPERIMENT_NAME!r} already exists; rename it"
            )
        return row

    async def row(self, experiment_id: str, field: str = "experiment_id") -> ExperimentRow:
        """The experiment, live or deleted; 404 when there is none (also for a number this
        server never gives out, as MLflow answers an unknown integer id; other text is a 400)."""
        if experiment_id.isdigit() and experiment_id_or_none(experiment_id) is None:
            raise NotFound(f"No Experiment with id={experiment_id} exists")
        key = experiment_id_in(experiment_id, field)
        if key == DEFAULT_EXPERIMENT_UUID:
            return await self.ensure_default()
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
        except IntegrityError:
            await self.session.rollback()
            raise already_exists(name) from None
        after_commit(self.session, lambda: self.cache.bump(LIST))
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
            raise InvalidInput(max_results_not_positive(limit or 0))
        if limit > MAX_SEARCH_RESULTS:
            raise InvalidInput(max_results_above(limit, MAX_SEARCH_RESULTS))
        where = read_filter(request.filter, EXPERIMENTS)
        where = None if where is None else _canonical_ids(where)
        order_by = read_order_by(request.order_by, EXPERIMENTS)
        lifecycle = VIEW_LIFECYCLES[request.view_type]
        fingerprint = search_fingerprint(where, order_by, lifecycle)
        offset = decode_page_token(
            request.page_token, fingerprint, same="filter, order_by and view_type"
        )
        if lifecycle != DELETED:
            await self.ensure_default()
        rows = await experiment_search.search_experiments(
            self.session,
            lifecycle=lifecycle,
            where=where,
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
        # The list too: its items' descriptions are their note tags.
        after_commit(self.session, lambda: self.cache.bump(LIST, experiment_key(row.id)))

    async def delete_tag(self, experiment_id: str, key: str) -> None:
        row = await self.active_row(experiment_id)
        if not await repo.delete_tag(self.session, row.id, key):
            raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
        after_commit(self.session, lambda: self.cache.bump(LIST, experiment_key(row.id)))

    async def _render(self, row: ExperimentRow) -> wire.Experiment:
        tags = await repo.load_tags(self.session, [row.id])
        return render.experiment(row, tags[row.id])

    def _v1(self) -> ExperimentService:
        return ExperimentService(self.session, self.cache, self.cache_ttl)


def _canonical_ids(where: Expr) -> Expr:
    """`experiment_id` values as UUID strings (MLflow's "0" is the default experiment); a
    value that is no id of ours stays as it is and matches nothing."""
    if isinstance(where, And):
        return And(tuple(_canonical_ids(item) for item in where.items))
    if not isinstance(where, Comparison) or (where.entity, where.key) != (
        "attribute",
        "experiment_id",
    ):
        return where
    values = where.value if isinstance(where.value, tuple) else (str(where.value),)
    ids = tuple(_canonical_id(value) for value in values)
    return replace(where, value=ids if isinstance(where.value, tuple) else ids[0])


def _canonical_id(text: str) -> str:
    try:
        return str(experiment_id_in(text))
    except InvalidInput:
        return text
