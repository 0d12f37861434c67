"""Fixtures of the read-replica tests: a primary and a streaming hot standby of the tests'
own (postgres_cluster.py), a migrated `mltrail` database on them, its first admin and three
users, and apps (in-process, through their ASGI interface) configured with the standby as
DATABASE_READ_URL."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mltrail_server.config import Settings
from mltrail_server.db.engine import Database
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService
from tests.api.access import Keys, make_users
from tests.conftest import RUN_ID, Backend, Server, start_server, stop_server
from tests.replica.postgres_cluster import Replication, find_binary, start_replication
from tests.services_available import IN_CI, REDIS_URL, require_redis

DATABASE = "mltrail"

AppFactory = Callable[..., Any]


def require_postgres_binaries() -> None:
    try:
        for name in ("initdb", "pg_ctl", "pg_basebackup"):
            find_binary(name)
    except FileNotFoundError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true requires them)", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def replication() -> Iterator[Replication]:
    """A primary and its hot standby, with mltrail's schema; always stopped at the end."""
    require_postgres_binaries()
    replication = start_replication()
    try:
        asyncio.run(_create_schema(replication))
        yield replication
    finally:
        replication.stop()


async def _create_schema(replication: Replication) -> None:
    await replication.primary.execute(f'CREATE DATABASE "{DATABASE}"')
    database = Database(_async(replication.primary.url(DATABASE)), pooled=False)
    try:
        await database.migrate()
    finally:
        await database.dispose()
    await replication.wait_caught_up()


def _async(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://")


@pytest.fixture(scope="module")
def keys(replication: Replication) -> Keys:
    """The first admin (as a first start creates it) and an owner, a member and a viewer."""

    async def create() -> Keys:
        settings = replica_settings(replication)
        database = Database(settings.resolved_database_url, pooled=False)
        async with transaction(database.session()) as session:
            admin = await AuthService(session).bootstrap_admin()
        await database.dispose()
        assert admin is not None
        server = await start_server(settings, _backend(replication))
        try:
            return await make_users(server, admin)
        finally:
            await stop_server(server)

    return asyncio.run(create())


def replica_settings(replication: Replication, **overrides: object) -> Settings:
    """An app on the primary with the standby as its read replica, authentication on, the
    cache off (every read reaches a database) and Redis for the read-your-writes windows."""
    values: dict[str, object] = {
        "database_url": replication.primary.url(DATABASE),
        "database_read_url": replication.standby.url(DATABASE),
        "database_read_your_writes_seconds": 60.0,
        "redis_url": REDIS_URL,
        "redis_prefix": f"mltrail-replica-test-{RUN_ID}:",
        "cache_enabled": False,
        "migrate_on_start": False,
        "auth_enabled": True,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _backend(replication: Replication) -> Backend:
    return Backend("replica", replication.primary.url(DATABASE), REDIS_URL)


@pytest.fixture
async def apps(replication: Replication) -> AsyncIterator[AppFactory]:
    """`async with apps(**settings) as server`: a started app (a worker) over the pair. The
    apps of one test share a Redis prefix of their own: no window of another test."""
    require_redis()
    prefix = f"mltrail-replica-test-{RUN_ID}-{uuid.uuid4().hex[:8]}:"

    @asynccontextmanager
    async def start(**overrides: object) -> AsyncIterator[Server]:
        settings = replica_settings(replication, redis_prefix=prefix, **overrides)
        server = await start_server(settings, _backend(replication))
        try:
            yield server
        finally:
            await stop_server(server)

    yield start
