"""SQL for logged models: adding and getting one, and search (MLflow's
`logged-models/search`), a parsed filter and `order_by` compiled by `db.search_sql`. Tags and
params are JSON objects in the model's row; a clause on one is an `EXISTS` over the object's
pairs (`json_each` on SQLite, `jsonb_each_text` on PostgreSQL), so any key works, quotes and
dots included."""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.search_sql import Attribute, JsonKeys, SearchSql
from mltrail_server.db.tables import LoggedModel
from mltrail_server.search import Expr, OrderBy

__all__ = ["add", "get", "search_logged_models"]


async def add(session: AsyncSession, model: LoggedModel) -> LoggedModel:
    session.add(model)
    await session.flush()
    return model


async def get(session: AsyncSession, model_id: str) -> LoggedModel | None:
    return await session.get(LoggedModel, model_id)


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
) -> Sequence[LoggedModel]:
    """A page of the experiments' logged models that match `where`, in `order_by` order, then
    newest first, then by id."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    compiler = SearchSql(dialect, attributes=_ATTRIBUTES, keyed=_KEYED)
    query = select(LoggedModel).where(
        LoggedModel.experiment_id.in_(list(experiment_ids)), LoggedModel.lifecycle == lifecycle
    )
    if where is not None:
        query = query.where(compiler.condition(where))
    query = compiler.ordered(query, order_by, _THEN).offset(offset).limit(limit)
    return (await session.execute(query)).scalars().all()
