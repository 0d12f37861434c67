"""Alembic migrations, up and down, on SQLite and PostgreSQL, and several workers at once."""

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.migrate import downgrade
from app.db.tables import Base
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.services_available import require_postgres

EXPECTED = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    name = f"exptrack_migrate_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        require_postgres()
        url = (await asyncio.to_thread(_create_postgres_database, name)).replace(
            "postgresql://", "postgresql+asyncpg://"
        )
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    database = Database(url, pooled=False)
    yield database
    await database.dispose()
    if request.param == "postgres":
        await asyncio.to_thread(_drop_postgres_database, name)


async def tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


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
            version = (await connection.execute(text("SELECT version_num FROM alembic_version")))
            assert len(version.all()) == 1

    async def test_several_workers_starting_at_once(self, empty_database: Database) -> None:
        script = (
            "import asyncio, sys\n"
            "from app.db.engine import Database\n"
            "asyncio.run(Database(sys.argv[1], pooled=False).migrate())\n"
        )
        workers = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", script, empty_database.url)
            for _ in range(4)
        ]
        assert [await worker.wait() for worker in workers] == [0, 0, 0, 0]
        assert await tables(empty_database) == EXPECTED
