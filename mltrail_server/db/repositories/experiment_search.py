"""SQL for experiment search (MLflow's `experiments/search`): a parsed filter and `order_by`
compiled by `db.search_sql`; a tag clause is an `EXISTS` on the (experiment_id, key) index."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.search_sql import Attribute, KeyedTable, SearchSql
from mltrail_server.db.tables import Experiment, ExperimentTag
from mltrail_server.search import Expr, OrderBy

__all__ = ["search_experiments"]

_ATTRIBUTES = {
    "name": Attribute(Experiment.name),
    "experiment_id": Attribute(Experiment.id, "uuid"),
    "creation_time": Attribute(Experiment.created_at, "time"),
    "last_update_time": Attribute(Experiment.updated_at, "time"),
}
_KEYED = {"tag": KeyedTable(ExperimentTag, "experiment_id", Experiment.id)}
# An empty order_by means the newest first; ties are broken by id.
_THEN = (OrderBy("attribute", "creation_time", False), OrderBy("attribute", "experiment_id", True))


async def search_experiments(
    session: AsyncSession,
    *,
    lifecycle: str | None,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
) -> Sequence[Experiment]:
    """A page of experiments matching `where` (`experiment_id` values as UUID strings), in
    `order_by` order, then newest first, then by id. `lifecycle=None`: live and deleted."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    compiler = SearchSql(dialect, attributes=_ATTRIBUTES, keyed=_KEYED)
    query = select(Experiment)
    if lifecycle is not None:
        query = query.where(Experiment.lifecycle == lifecycle)
    if where is not None:
        query = query.where(compiler.condition(where))
    query = compiler.ordered(query, order_by, _THEN).offset(offset).limit(limit)
    return (await session.execute(query)).scalars().all()
