"""Run search's plan does not hang on fresh statistics.

A team that creates a 1,000-run sweep and searches it at once meets a database autovacuum has
not analyzed yet: PostgreSQL then believes `run` and `latest_metric` hold a row or so, and
the former shape of the query (an `EXISTS` per clause, planned as a semi-join) nested a loop
over ix_latest_metric_key_value, reading the whole key's index range once per run. Here a
database of its own is filled inside the test (no `ANALYZE`), and the plan of the search the
compiler emits must start from the experiment's runs and probe the (run, key) unique indexes;
the same on SQLite. Assertions are on the plan's structure, never on timings.
"""

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories.run_search import PLAN_SETTINGS, page_query
from mltrail_server.db.tables import ACTIVE, Experiment, LatestMetric, Param, Run, RunTag
from mltrail_server.search import RUNS, read_filter, read_order_by
from tests.conftest import (
    RUN_ID,
    TEST_BUSY_TIMEOUT_SECONDS,
    _async_url,
    _create_postgres_database,
    _drop_postgres_database,
)
from tests.services_available import require_postgres

RUNS_IN_SWEEP = 1000
METRICS = ("loss", "acc", "f1", "val_loss", "grad_norm")
SEARCHES = [
    ("metrics.loss < 0.5 and params.lr = '0.01'", ["metrics.loss ASC"]),
    ("metrics.acc > 0.9 or tags.team = 'nlp'", ["params.lr DESC"]),
    ("params.optimizer IS NULL or tags.stage != 'prod'", ["metrics.f1 DESC"]),
]
# The lookups each search must make by a (run, key) unique index.
KEY_INDEXES = {"uq_latest_metric_run_key", "pk_param", "pk_run_tag"}


async def fill_sweep(database: Database, name: str = "sweep") -> uuid.UUID:
    """One experiment of 1,000 runs, each with 3 params, 2 tags and 5 metrics; no ANALYZE."""
    pick = random.Random(13)
    experiment_id = uuid.uuid4()
    started = datetime(2026, 1, 1, tzinfo=UTC)
    runs: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for index in range(RUNS_IN_SWEEP):
        run_id = uuid.uuid4()
        runs.append(
            {
                "id": run_id,
                "experiment_id": experiment_id,
                "name": f"sweep-{index}",
                "status": "completed",
                "started_at": started + timedelta(seconds=index),
            }
        )
        lr = pick.choice(["0.1", "0.01", "0.001"])
        params += [
            {"run_id": run_id, "key": key, "value": value}
            for key, value in (("lr", lr), ("batch", "64"), ("optimizer", "adam"))
        ]
        tags += [
            {"run_id": run_id, "key": key, "value": value}
            for key, value in (("team", pick.choice(["nlp", "cv"])), ("stage", "dev"))
        ]
        metrics += [
            {
                "run_id": run_id,
                "key": key,
                "value": pick.random(),
                "is_nan": False,
                "step": 99,
                "timestamp": 1_700_000_000_000,
                "min_value": 0.0,
                "max_value": 1.0,
            }
            for key in METRICS
        ]
    async with database.session() as session:
        await session.execute(insert(Experiment).values(id=experiment_id, name=name, owner="t"))
        for table, rows in ((Run, runs), (Param, params), (RunTag, tags), (LatestMetric, metrics)):
            await session.execute(insert(table), rows)
        await session.commit()
    return experiment_id


def compiled(dialect: Any, experiment_id: uuid.UUID, filter_: str, order_by: list[str]) -> str:
    query = page_query(
        dialect.name,
        experiment_ids=[experiment_id],
        lifecycle=ACTIVE,
        where=read_filter(filter_, RUNS),
        order_by=read_order_by(order_by, RUNS),
        offset=0,
        limit=101,
    )
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child)


@pytest.fixture(scope="module")
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of this module's own, migrated and never analyzed."""
    require_postgres()
    name = f"mltrail_test_{RUN_ID}_plan"
    url = _async_url(_create_postgres_database(name))
    database = Database(url, pooled=False, statement_timeout=0)
    asyncio.run(database.migrate())
    asyncio.run(database.dispose())
    yield url
    _drop_postgres_database(name)


async def postgres_plans(url: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The JSON plan of each search, and how many live rows PostgreSQL's statistics give
    `latest_metric` when the plans are made (0: never analyzed)."""
    database = Database(url, pooled=False, statement_timeout=0)
    try:
        experiment_id = await fill_sweep(database)
        plans, analyzed_rows = [], []
        async with database.session() as session:
            for filter_, order_by in SEARCHES:
                dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
                sql = compiled(dialect, experiment_id, filter_, order_by)
                statistics = await session.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'latest_metric'")
                )
                analyzed_rows.append(int(max(statistics.scalar_one(), 0)))
                result = await session.execute(text("EXPLAIN (FORMAT JSON) " + sql))
                plan = result.scalar_one()
                plans.append((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
        return plans, analyzed_rows
    finally:
        await database.dispose()


def test_postgres_plan_on_fresh_statistics_probes_each_key_per_run(fresh_postgres: str) -> None:
    plans, analyzed_rows = asyncio.run(postgres_plans(fresh_postgres))
    # The plans were made before anything analyzed the new rows (autovacuum waits a minute
    # between rounds; a round that came early would make this test prove less, not fail it).
    assert min(analyzed_rows) < RUNS_IN_SWEEP * len(METRICS)
    for (filter_, _), plan in zip(SEARCHES, plans, strict=True):
        nodes = list(plan_nodes(plan))
        scans = [node for node in nodes if "Relation Name" in node]
        # The runs are read once, from the experiment's runs; every other table is probed by
        # its (run, key) index in a subplan run per candidate run.
        outer = [node for node in scans if node.get("Parent Relationship") != "SubPlan"]
        probes = [node for node in scans if node.get("Parent Relationship") == "SubPlan"]
        assert [node["Relation Name"] for node in outer] == ["run"], filter_
        assert probes, filter_
        for probe in probes:
            assert probe["Node Type"] == "Index Scan", (filter_, probe)
            assert probe["Index Name"] in KEY_INDEXES, (filter_, probe)
            assert "run_id = run.id" in probe["Index Cond"], (filter_, probe)
        # No join at all, so no nested loop over ix_latest_metric_key_value with a join filter.
        assert not [node for node in nodes if "Join Type" in node], filter_
        assert all(node.get("Index Name") != "ix_latest_metric_key_value" for node in nodes)


async def sqlite_plans(path: Path) -> list[list[str]]:
    database = Database(
        f"sqlite+aiosqlite:///{path}",
        pooled=False,
        statement_timeout=0,
        busy_timeout=TEST_BUSY_TIMEOUT_SECONDS,
    )
    try:
        await database.migrate()
        experiment_id = await fill_sweep(database)
        plans = []
        async with database.session() as session:
            for filter_, order_by in SEARCHES:
                sql = compiled(sqlite.dialect(), experiment_id, filter_, order_by)
                rows = await session.execute(text("EXPLAIN QUERY PLAN " + sql))
                plans.append([row[3] for row in rows])
        return plans
    finally:
        await database.dispose()


def test_sqlite_plan_probes_each_key_per_run(tmp_path: Path) -> None:
    for (filter_, _), steps in zip(
        SEARCHES, asyncio.run(sqlite_plans(tmp_path / "t.db")), strict=True
    ):
        searches = [step for step in steps if step.startswith(("SEARCH", "SCAN"))]
        assert searches[0].startswith("SEARCH run USING INDEX ix_run_experiment_listing"), steps
        for step in searches[1:]:
            assert step.startswith("SEARCH "), (filter_, steps)
            assert "(run_id=? AND key=?)" in step, (filter_, steps)
        assert any("CORRELATED SCALAR SUBQUERY" in step for step in steps), (filter_, steps)


async def jit_in_plans(url: str) -> tuple[bool, bool]:
    """Whether PostgreSQL compiles the search with JIT, in a transaction where anything costing
    more than nothing would be (jit_above_cost = 0): without the search's settings, and with
    them."""
    database = Database(url, pooled=False, statement_timeout=0)
    try:
        experiment_id = await fill_sweep(database, "jit-sweep")
        sql = compiled(postgresql.dialect(), experiment_id, *SEARCHES[0])  # type: ignore[no-untyped-call]
        compiled_with_jit = []
        for settings in (None, PLAN_SETTINGS):
            async with database.session() as session, session.begin():
                await session.execute(text("SET LOCAL jit = on"))
                await session.execute(text("SET LOCAL jit_above_cost = 0"))
                if settings is not None:
                    await session.execute(settings)
                result = await session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))
                plan = result.scalar_one()
                top = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                compiled_with_jit.append("JIT" in top)
        return compiled_with_jit[0], compiled_with_jit[1]
    finally:
        await database.dispose()


def test_postgres_does_not_jit_compile_a_search(fresh_postgres: str) -> None:
    """A search over a large experiment costs above jit_above_cost (its subplans per run add
    up), and compiling it took longer than running it: the search's settings turn JIT off."""
    without, with_settings = asyncio.run(jit_in_plans(fresh_postgres))
    if not without:
        pytest.skip("this PostgreSQL server has no JIT (built without LLVM)")
    assert not with_settings
