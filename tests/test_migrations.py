"""Alembic migrations, up and down, on SQLite and PostgreSQL, and several workers at once."""

import asyncio
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from mltrail_server.config import Settings
from mltrail_server.db.engine import MIGRATION_LOCK_ID, Database
from mltrail_server.db.migrate import alembic_config, downgrade
from mltrail_server.db.tables import Base
from mltrail_server.main import create_app
from tests.api.test_metric_history_api import block_buckets
from tests.conftest import _create_postgres_database, _drop_postgres_database, side_database
from tests.services_available import require_postgres

EXPECTED = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    name = f"mltrail_migrate_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        require_postgres()
        url = (await asyncio.to_thread(_create_postgres_database, name)).replace(
            "postgresql://", "postgresql+asyncpg://"
        )
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    database = side_database(url)
    yield database
    await database.dispose()
    if request.param == "postgres":
        await asyncio.to_thread(_drop_postgres_database, name)


async def tables(database: Database) -> set[str]:
    """The schema's tables, without the partitions of a partitioned one."""
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        partitions = set(await metric_partitions(connection))
    return names - {"alembic_version"} - partitions


async def metric_partitions(connection: AsyncConnection) -> list[str]:
    """The partitions of `metric` (PostgreSQL; none while it is a plain table)."""
    if connection.dialect.name != "postgresql":
        return []
    rows = await connection.execute(
        text(
            "SELECT relid::text FROM pg_partition_tree(to_regclass('metric')) "
            "WHERE level > 0 ORDER BY 1"
        )
    )
    return list(rows.scalars())


async def run_downgrade(connection: AsyncConnection, revision: str) -> None:
    await connection.run_sync(downgrade, revision)
    await connection.commit()


class TestMigrations:
    async def test_up_down_and_up_again(self, empty_database: Database) -> None:
        assert await tables(empty_database) == set()
        await empty_database.migrate()
        assert await tables(empty_database) == EXPECTED
        async with empty_database.engine.connect() as connection:
            await run_downgrade(connection, "base")
        assert await tables(empty_database) == set()
        await empty_database.migrate()
        assert await tables(empty_database) == EXPECTED

    async def test_migrating_twice_is_harmless(self, empty_database: Database) -> None:
        await empty_database.migrate()
        await empty_database.migrate()
        async with empty_database.engine.connect() as connection:
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert len(version.all()) == 1

    async def test_several_workers_starting_at_once_migrate_once(
        self, empty_database: Database
    ) -> None:
        """Four workers start while another process holds the migration lock (PostgreSQL's
        advisory lock; SQLite's lock file, and SQLite's write lock too, with a busy timeout
        of 1 ms): every one waits for it, none fails, and each migration is applied once."""
        workers: list[asyncio.subprocess.Process] = []
        try:
            async with holding_the_migration_lock(empty_database) as waiting:
                for _ in range(4):
                    workers.append(await start_migrating_worker(empty_database.url))
                for worker in workers:
                    assert worker.stdout is not None
                    assert (await worker.stdout.readline()).strip() == b"migrating"
                await waiting(workers)
            outputs = [await worker.communicate() for worker in workers]
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()
        assert [worker.returncode for worker in workers] == [0, 0, 0, 0], outputs
        applied = [
            line
            for stdout, _ in outputs
            for line in stdout.decode().splitlines()
            if line.startswith("migration applied:")
        ]
        assert len(applied) == len(set(applied)) == len(REVISIONS), applied
        assert await tables(empty_database) == EXPECTED


REVISIONS = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
WORKER = (
    "import asyncio, logging, sys\n"
    "import mltrail_server.db.migrate\n"
    "from mltrail_server.db.engine import Database\n"
    "logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)\n"
    "database = Database(sys.argv[1], pooled=False, busy_timeout=0.001)\n"
    "print('migrating', flush=True)\n"
    "asyncio.run(database.migrate())\n"
)
# How long every worker must keep waiting on the held lock (a worker that does not wait
# exits within milliseconds: SQLite's busy timeout is 1 ms, PostgreSQL's DDL collides).
SETTLE_POLLS = 20


async def start_migrating_worker(url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, url, stdout=asyncio.subprocess.PIPE
    )


Waiting = Callable[[list[asyncio.subprocess.Process]], Awaitable[None]]


@asynccontextmanager
async def holding_the_migration_lock(database: Database) -> AsyncIterator[Waiting]:
    """Hold what `Database.migrate` waits on, and yield a check that the given workers are
    all waiting for it; release it on leaving."""
    if database.dialect == "postgresql":
        async with database.engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID}
            )
            await connection.commit()

            async def waiting_on_postgres(workers: list[asyncio.subprocess.Process]) -> None:
                # Deterministic: the waiters show in pg_locks, or the lock is not taken.
                for _ in range(600):
                    assert all(w.returncode is None for w in workers), "a worker did not wait"
                    count = await connection.execute(WAITERS, {"id": MIGRATION_LOCK_ID})
                    await connection.commit()
                    if count.scalar_one() == len(workers):
                        assert await tables(database) == set(), "migrated under the lock"
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError("the workers never waited on the migration lock")

            try:
                yield waiting_on_postgres
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                await connection.commit()
        return

    path = make_url(database.url).database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")

    async def waiting_on_sqlite(workers: list[asyncio.subprocess.Process]) -> None:
        # A worker that skips the lock file meets the write lock held here and fails at
        # once (busy timeout 1 ms).
        for _ in range(SETTLE_POLLS):
            await asyncio.sleep(0.1)
            assert all(w.returncode is None for w in workers), "a worker did not wait"
        made = writer.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        assert made == [], "migrated under the lock"

    try:
        with FileLock(f"{path}.migrate-lock"):
            try:
                yield waiting_on_sqlite
            finally:
                writer.close()  # the write lock first: a waiting worker may then take it
    finally:
        writer.close()


WAITERS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND ((classid::bigint << 32) | objid::bigint) = :id"
)


@asynccontextmanager
async def app_client(database: Database, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a migrated database, reached through its ASGI interface."""
    settings = Settings(
        database_url=database.url,
        data_dir=data_dir,
        migrate_on_start=False,
        auth_enabled=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    await app.state.runtime.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await app.state.runtime.stop()


async def all_blocks(database: Database) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(text("SELECT * FROM metric_block ORDER BY 1, 2"))
        return [tuple(row) for row in rows.all()]


class TestMetricBlocks:
    async def test_upgrade_fills_the_blocks_of_points_already_stored(
        self, empty_database: Database, tmp_path: Path
    ) -> None:
        await empty_database.migrate()
        points: list[dict[str, Any]] = [
            {"key": "loss", "step": step, "timestamp": 10_000 + step, "value": (step * 7919) % 1000}
            for step in range(-2048, 20_000, 3)
        ]
        points[100]["value"] = "NaN"
        points += [  # a second point at a step, and a block (80) of NaN only
            {"key": "loss", "step": 9, "timestamp": 5, "value": -5.0},
            *(
                {"key": "loss", "step": s, "timestamp": 0, "value": "NaN"}
                for s in range(20_480, 20_736)
            ),
        ]
        async with app_client(empty_database, tmp_path) as client:
            experiment = await client.post("/api/v1/experiments", json={"name": "m", "owner": "a"})
            run = await client.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={})
            url = f"/api/v1/runs/{run.json()['id']}"
            for start in range(0, len(points), 10_000):
                batch = {"metrics": points[start : start + 10_000]}
                response = await client.post(f"{url}/batch", json=batch)
                assert response.status_code == 200, response.text[:500]
            views = [
                {"key": "loss", "points": 5},
                {"key": "loss", "points": 20, "start_step": -1000, "end_step": 18_000},
            ]
            logged = [
                (await client.get(f"{url}/metrics/downsampled", params=v)).json() for v in views
            ]
        written = await all_blocks(empty_database)
        assert len(written) == 88  # blocks -8 to 78, and 80
        for view, body in zip(views, logged, strict=True):
            expected, total = block_buckets(
                points,
                points=view["points"],
                start=view.get("start_step"),
                end=view.get("end_step"),
            )
            assert body["sampled"] and (body["total"], body["points"]) == (total, expected)

        # Back to 0003, which has no blocks, with the points still there; then up again.
        async with empty_database.engine.connect() as connection:
            await run_downgrade(connection, "0003_mlflow")
        assert "metric_block" not in await tables(empty_database)
        await empty_database.migrate()

        assert await all_blocks(empty_database) == written
        async with app_client(empty_database, tmp_path) as client:
            backfilled = [
                (await client.get(f"{url}/metrics/downsampled", params=v)).json() for v in views
            ]
        assert backfilled == logged
        assert [p["min"] for p in backfilled[0]["points"]][:1] == [-5.0]


class TestMetricPartitions:
    """PostgreSQL keeps the points in 16 hash partitions of their series (migration 0011)."""

    async def test_points_stay_the_same_across_partitioning_and_back(
        self, empty_database: Database, tmp_path: Path
    ) -> None:
        postgres = empty_database.engine.dialect.name == "postgresql"
        await empty_database.migrate()
        async with empty_database.engine.connect() as connection:
            partitions = await metric_partitions(connection)
        assert partitions == ([f"metric_p{i:02d}" for i in range(16)] if postgres else [])

        async with app_client(empty_database, tmp_path) as client:
            experiment = await client.post("/api/v1/experiments", json={"name": "p", "owner": "a"})
            experiment_id = experiment.json()["id"]
            runs = []
            for r in range(4):
                run = await client.post(f"/api/v1/experiments/{experiment_id}/runs", json={})
                runs.append(f"/api/v1/runs/{run.json()['id']}")
                batch = {
                    "metrics": [
                        {"key": f"m{k}", "step": step, "timestamp": step, "value": r * k + step}
                        for k in range(10)
                        for step in range(300)
                    ]
                }
                assert (await client.post(f"{runs[-1]}/batch", json=batch)).status_code == 200
            keys = [(url, f"m{k}") for url in runs for k in range(10)]

            async def histories() -> list[Any]:
                return [
                    (await client.get(f"{url}/metrics/history", params={"key": key})).json()
                    for url, key in keys
                ]

            logged = await histories()
            assert [len(h["points"]) for h in logged] == [300] * 40

        async with empty_database.engine.connect() as connection:
            await run_downgrade(connection, "0010_run_deleted_index")
            assert await metric_partitions(connection) == []
        assert await tables(empty_database) == EXPECTED
        await empty_database.migrate()

        async with app_client(empty_database, tmp_path) as client:
            assert await histories() == logged
            # A re-sent batch is still a no-op, and new points land beside the old ones.
            again = {
                "metrics": [
                    {"key": "m0", "step": s, "timestamp": s, "value": s} for s in range(301)
                ]
            }
            assert (await client.post(f"{runs[0]}/batch", json=again)).status_code == 200
            reply = await client.get(f"{runs[0]}/metrics/history", params={"key": "m0"})
            history = reply.json()["points"]
            assert [p["step"] for p in history] == list(range(301))
        if postgres:
            async with empty_database.engine.connect() as connection:
                spread = await connection.execute(
                    text(
                        "SELECT count(DISTINCT tableoid), "
                        "count(DISTINCT (series_id, tableoid)) - count(DISTINCT series_id) "
                        "FROM metric"
                    )
                )
                used, misplaced = spread.one()
            assert used > 4  # 40 series spread over the partitions, ...
            assert misplaced == 0  # ... each series' points in one of them


async def test_pgbouncer_mode_works_without_cached_statements() -> None:
    """With DATABASE_PGBOUNCER the engine prepares nothing under a reusable name and caches
    nothing, which is what PgBouncer's transaction mode needs."""
    require_postgres()
    name = f"mltrail_pgb_{uuid.uuid4().hex[:8]}"
    url = (await asyncio.to_thread(_create_postgres_database, name)).replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    database = Database(url, pooled=True, pgbouncer=True)
    try:
        await database.migrate()
        for _ in range(3):
            async with database.engine.connect() as connection:
                result = await connection.execute(text("SELECT count(*) FROM experiment"))
                assert result.scalar_one() == 0
                names = await connection.execute(text("SELECT name FROM pg_prepared_statements"))
                # Only unique, never-reused names: no asyncpg `__asyncpg_stmt_N__` numbering.
                assert all(n.startswith("__et_") for (n,) in names), "reusable statement names"
    finally:
        await database.dispose()
        await asyncio.to_thread(_drop_postgres_database, name)
