"""Test fixtures: real SQLite and real PostgreSQL + Redis, each test run in fresh databases.

The seed's module (tests/test_experiments.py) builds `app` at import time from the
environment, so the environment is pointed at a fresh SQLite directory before anything
imports `app.main`.
"""

import asyncio
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

_SEED_DIR = tempfile.mkdtemp(prefix="mltrail-seed-")
os.environ.update(
    {"DATA_DIR": _SEED_DIR, "DATABASE_URL": "", "REDIS_URL": "", "AUTH_ENABLED": "false"}
)

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from mltrail_server.config import Settings  # noqa: E402
from mltrail_server.db.engine import Database  # noqa: E402
from mltrail_server.main import create_app  # noqa: E402
from tests.services_available import (  # noqa: E402
    POSTGRES_URL,
    REDIS_URL,
    require_postgres,
    require_redis,
)

RUN_ID = uuid.uuid4().hex[:10]
TEST_BUSY_TIMEOUT_SECONDS = 120.0
TABLES = [
    "experiment",
    "metric",
    "api_key",
    "app_user",
    "audit_event",
    "artifact_purge",
]  # the rest cascades


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SEED_DIR, ignore_errors=True)


@dataclass(frozen=True)
class Backend:
    """A database (with its cache) the tests run against."""

    name: str
    database_url: str
    redis_url: str

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": f"mltrail-test-{RUN_ID}:",
            "migrate_on_start": False,
            "auth_enabled": False,
            "log_level": "WARNING",
            # A generous wait for SQLite's write lock: on a busy machine a writer may hold it
            # for longer than the default 10 s (tests of the timeout set their own).
            "database_busy_timeout_seconds": TEST_BUSY_TIMEOUT_SECONDS,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://")


def _create_postgres_database(name: str) -> str:
    async def create() -> None:
        # No statement timeout: DROP DATABASE waits for a checkpoint, slow on a busy disk.
        admin = Database(_async_url(f"{POSTGRES_URL}/postgres"), pooled=False, statement_timeout=0)
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()

    asyncio.run(create())
    return f"{POSTGRES_URL}/{name}"


def _drop_postgres_database(name: str) -> None:
    async def drop() -> None:
        # No statement timeout: DROP DATABASE waits for a checkpoint, slow on a busy disk.
        admin = Database(_async_url(f"{POSTGRES_URL}/postgres"), pooled=False, statement_timeout=0)
        async with admin.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    asyncio.run(drop())


def _migrate(settings: Settings) -> None:
    async def migrate() -> None:
        database = Database(
            settings.resolved_database_url, pooled=False, busy_timeout=TEST_BUSY_TIMEOUT_SECONDS
        )
        await database.migrate()
        await database.dispose()

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path = tmp_path_factory.mktemp("sqlite") / "tracker.db"
    backend = Backend("sqlite", f"sqlite:///{path}", "")
    _migrate(backend.settings())
    return backend


@pytest.fixture(scope="session")
def postgres_backend() -> Iterator[Backend]:
    require_postgres()
    require_redis()
    name = f"mltrail_test_{RUN_ID}"
    backend = Backend("postgres", _create_postgres_database(name), REDIS_URL)
    _migrate(backend.settings())
    yield backend
    _drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that uses it runs on SQLite (in-process cache) and PostgreSQL (Redis)."""
    value: Backend = request.getfixturevalue(f"{request.param}_backend")
    return value


def side_database(url: str) -> Database:
    """A database handle for a test's own reads and writes beside the app it runs: on SQLite
    it waits for the write lock as long as the app's test settings do (a fixture that gave
    up after the default 10 s failed a loaded run)."""
    return Database(url, pooled=False, busy_timeout=TEST_BUSY_TIMEOUT_SECONDS)


async def _empty(database: Database) -> None:
    # DELETE, not TRUNCATE, on PostgreSQL too: a test leaves a few rows, and TRUNCATE ...
    # CASCADE swaps every table's files (0.3-0.5 s a test on a busy machine against 0.05 s).
    async with database.engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))


@dataclass
class Server:
    """An app on a backend, with an HTTP client through its ASGI interface."""

    app: object
    client: httpx.AsyncClient
    backend: Backend


async def start_server(settings: Settings, backend: Backend) -> Server:
    app = create_app(settings)
    await app.state.runtime.start()
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return Server(app, client, backend)


async def stop_server(server: Server) -> None:
    await server.client.aclose()
    runtime = server.app.state.runtime  # type: ignore[attr-defined]
    await runtime.stop()
    if runtime.settings.resolved_database_url.startswith("sqlite"):
        _assert_write_lock_free(make_url(runtime.settings.resolved_database_url).database or "")


def _assert_write_lock_free(path: str) -> None:
    """A stopped app holds no SQLite write lock: a connection it left inside a transaction
    would make the next test's first write wait out the busy timeout ("database is locked"
    in a later test's setup). Fails the test that left it, after a wait generous enough for
    a writer of the test's own still finishing."""
    if not path or path == ":memory:" or not os.path.exists(path):
        return
    probe = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        raise AssertionError(f"the stopped app left SQLite's write lock held ({exc})") from None
    finally:
        probe.close()


@pytest.fixture
async def server(backend: Backend) -> AsyncIterator[Server]:
    """A fresh app on an emptied database."""
    settings = backend.settings()
    database = Database(
        settings.resolved_database_url, pooled=False, busy_timeout=TEST_BUSY_TIMEOUT_SECONDS
    )
    await _empty(database)
    await database.dispose()
    started = await start_server(settings, backend)
    yield started
    await stop_server(started)


@pytest.fixture
def client(server: Server) -> httpx.AsyncClient:
    return server.client
