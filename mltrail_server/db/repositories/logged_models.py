"""SQL for logged models: adding and getting one, and search (MLflow's
`logged-models/search`), a parsed filter and `order_by` compiled by `db.search_sql`. Tags and
params are JSON objects in the model's row; a clause on one is an `EXISTS` over the object's
pairs (`json_each` on SQLite, `jsonb_each_text` on PostgreSQL), so any key works, quotes and
dots included."""

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories.tracking import is_postgres
from mltrail_server.db.search_sql import Attribute, JsonKeys, SearchSql
from mltrail_server.db.tables import ACTIVE, LoggedModel, LoggedModelMetric, RunLink
from mltrail_server.search import Expr, OrderBy

__all__ = [
    "DatasetFilter",
    "add",
    "add_metrics",
    "existing_ids",
    "get",
    "metrics_of",
    "of_run",
    "search_logged_models",
]

# One `datasets` item of logged-models/search: the name, and the digest when given.
DatasetFilter = tuple[str, str | None]


async def add(session: AsyncSession, model: LoggedModel) -> LoggedModel:
    session.add(model)
    await session.flush()
    return model


async def get(session: AsyncSession, model_id: str) -> LoggedModel | None:
    return await session.get(LoggedModel, model_id)


async def existing_ids(session: AsyncSession, model_ids: Sequence[str]) -> set[str]:
    """Which of these logged models exist (whatever their lifecycle)."""
    if not model_ids:
        return set()
    query = select(LoggedModel.id).where(LoggedModel.id.in_(sorted(set(model_ids))))
    return set((await session.execute(query)).scalars())


async def of_run(session: AsyncSession, run_id: uuid.UUID) -> Sequence[LoggedModel]:
    """The live logged models of a run: those it is the source of, and those it logged as
    its outputs (MLflow's `log-outputs`), each once, newest first, then by id."""
    outputs = select(RunLink.key).where(
        RunLink.run_id == run_id, RunLink.direction == "output", RunLink.kind == "model"
    )
    query = (
        select(LoggedModel)
        .where(
            LoggedModel.lifecycle == ACTIVE,
            or_(LoggedModel.source_run_id == run_id, LoggedModel.id.in_(outputs)),
        )
        .order_by(LoggedModel.created_at.desc(), LoggedModel.id)
    )
    return (await session.execute(query)).scalars().all()


async def add_metrics(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert metric points of logged models; a point already there stays as it was."""
    if not rows:
        return
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    await session.execute(insert(LoggedModelMetric).values(list(rows)).on_conflict_do_nothing())


async def metrics_of(
    session: AsyncSession, model_ids: Sequence[str]
) -> dict[str, list[LoggedModelMetric]]:
    """Each model's metric points, by key, then step, then timestamp."""
    found: dict[str, list[LoggedModelMetric]] = {model_id: [] for model_id in model_ids}
    if not model_ids:
        return found
    query = (
        select(LoggedModelMetric)
        .where(LoggedModelMetric.model_id.in_(list(model_ids)))
        .order_by(
            LoggedModelMetric.model_id,
            LoggedModelMetric.key,
            LoggedModelMetric.step,
            LoggedModelMetric.timestamp,
            LoggedModelMetric.run_id,
        )
    )
    for row in (await session.execute(query)).scalars():
        found[row.model_id].append(row)
    return found


_ATTRIBUTES = {
    "name": Attribute(LoggedModel.name),
    "model_id": Attribute(LoggedModel.id),
    "model_type": Attribute(LoggedModel.model_type, nullable=True),
    "status": Attribute(LoggedModel.status),
    "source_run_id": Attribute(LoggedModel.source_run_id, "uuid", nullable=True),
    "creation_timestamp": Attribute(LoggedModel.created_at, "time"),
    "last_updated_timestamp": Attribute(LoggedModel.updated_at, "time"),
}
_KEYED = {"tag": JsonKeys(LoggedModel.tags), "param": JsonKeys(LoggedModel.params)}
# An empty order_by means the newest first; ties are broken by id.
_THEN = (
    OrderBy("attribute", "creation_timestamp", False),
    OrderBy("attribute", "model_id", True),
)


async def search_logged_models(
    session: AsyncSession,
    *,
    experiment_ids: Sequence[uuid.UUID],
    lifecycle: str,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
    datasets: Sequence[DatasetFilter] = (),
) -> Sequence[LoggedModel]:
    """A page of the experiments' logged models that match `where` (and, with `datasets`,
    have a metric measured on one of them), in `order_by` order, then newest first, then by
    id."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    compiler = SearchSql(dialect, attributes=_ATTRIBUTES, keyed=_KEYED)
    query = select(LoggedModel).where(
        LoggedModel.experiment_id.in_(list(experiment_ids)), LoggedModel.lifecycle == lifecycle
    )
    if where is not None:
        query = query.where(compiler.condition(where))
    if datasets:
        # A name without a digest matches the metrics logged without one (MLflow's server).
        on_dataset = [
            and_(
                LoggedModelMetric.dataset_name == name,
                LoggedModelMetric.dataset_digest.is_(None)
                if digest is None
                else LoggedModelMetric.dataset_digest == digest,
            )
            for name, digest in datasets
        ]
        query = query.where(
            exists().where(LoggedModelMetric.model_id == LoggedModel.id, or_(*on_dataset))
        )
    query = compiler.ordered(query, order_by, _THEN).offset(offset).limit(limit)
    return (await session.execute(query)).scalars().all()
