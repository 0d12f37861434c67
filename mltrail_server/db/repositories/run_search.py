"""SQL for run search: a parsed filter and `order_by` compiled (by `db.search_sql`) into one
query for a page of runs.

The plan starts from the experiment's runs (ix_run_experiment_listing) and looks each metric,
param or tag a clause or the order names up by its (run_id, key) unique index: a correlated
scalar subquery, which neither database turns into a join. So the plan does not depend on
statistics: in a freshly filled database, before autovacuum has analyzed it, PostgreSQL
believed `run` and `latest_metric` held one row each and nested the `EXISTS` semi-join of
the former shape over ix_latest_metric_key_value (120 ms for a 1,000-run experiment, against
5 ms now; tests/search/test_search_plan.py). A metric compares by its latest value; a NaN
latest value matches no comparison.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.search_sql import Attribute, KeyedTable, SearchSql
from mltrail_server.db.tables import ACTIVE, Experiment, LatestMetric, Param, Run, RunTag
from mltrail_server.search import Expr, OrderBy

__all__ = ["PLAN_SETTINGS", "page_query", "search_runs"]

_ATTRIBUTES = {
    "run_id": Attribute(Run.id, "uuid"),
    "run_name": Attribute(Run.name),
    "status": Attribute(Run.status),
    "user_id": Attribute(Run.user, nullable=True),
    "artifact_uri": Attribute(Run.artifact_uri, nullable=True),
    "start_time": Attribute(Run.started_at, "time"),
    "end_time": Attribute(Run.ended_at, "time", nullable=True),
    "parent_run_id": Attribute(Run.parent_run_id, "uuid", nullable=True),
}
_KEYED = {
    "metric": KeyedTable(LatestMetric, "run_id", Run.id, skip_nan=True),
    "param": KeyedTable(Param, "run_id", Run.id),
    "tag": KeyedTable(RunTag, "run_id", Run.id),
}
# PostgreSQL settings of a search's transaction (set_config(..., true): this transaction only).
# - plan_cache_mode: asyncpg prepares and keeps statements; from the sixth run on, PostgreSQL
#   may switch to a generic plan that cannot see the values (how selective `acc > 0.9` is),
#   which measured ten times slower. Each search is planned for its values.
# - jit: the subplans' costs add up per candidate run, so a search over a 100,000-run
#   experiment costs over jit_above_cost, and PostgreSQL spent 138 ms compiling it (of 329 ms
#   in all, against 114 ms without) for a query that probes indexes and computes nothing.
PLAN_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('jit', 'off', true)"
)
# Ties, and an empty order_by, fall back to the most recently started first, then the id.
_THEN = (OrderBy("attribute", "start_time", False), OrderBy("attribute", "run_id", True))


async def search_runs(
    session: AsyncSession,
    *,
    experiment_ids: Sequence[uuid.UUID],
    lifecycle: str | None,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
) -> Sequence[Row[Any]]:
    """One page of the runs of live experiments that match `where`, in `order_by` order, then
    most recently started first, then by id, as plain `run` rows (no ORM objects).
    `lifecycle=None` means live and deleted runs."""
    # The live experiments first (a primary-key lookup), so that the page query filters on
    # constants: PostgreSQL then reads one experiment's runs in started_at order from
    # ix_run_experiment_listing, and no join sits above the sort to keep it from stopping at
    # the first `limit` rows.
    live_query = select(Experiment.id).where(
        Experiment.id.in_(list(experiment_ids)), Experiment.lifecycle == ACTIVE
    )
    live = (await session.execute(live_query)).scalars().all()
    if not live:
        return []
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        await session.execute(PLAN_SETTINGS)
    query = page_query(
        dialect,
        experiment_ids=live,
        lifecycle=lifecycle,
        where=where,
        order_by=order_by,
        offset=offset,
        limit=limit,
    )
    rows: Sequence[Row[Any]] = (await session.execute(query)).all()
    return rows


def page_query(
    dialect: str,
    *,
    experiment_ids: Sequence[uuid.UUID],
    lifecycle: str | None,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
) -> Select[Any]:
    """The query for one page of the runs of `experiment_ids` (live ones: the caller checks),
    as plain `run` columns."""
    compiler = SearchSql(dialect, attributes=_ATTRIBUTES, keyed=_KEYED)
    query = select(*Run.__table__.c).where(Run.experiment_id.in_(list(experiment_ids)))
    if lifecycle is not None:
        query = query.where(Run.lifecycle == lifecycle)
    if where is not None:
        query = query.where(compiler.condition(where))
    return compiler.ordered(query, order_by, _THEN).offset(offset).limit(limit)
