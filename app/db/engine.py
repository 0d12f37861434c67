"""The async engine and session factory, tuned per database, and migrations at start."""

import asyncio
import logging
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

# Any fixed number: every worker that starts at once waits on the same lock.
MIGRATION_LOCK_ID = 7_239_104_551
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Alembic keeps its running context in module globals: one migration at a time per process
# (other processes are kept apart by the database's own locks).
_process_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _process_locks:
        _process_locks[loop] = asyncio.Lock()
    return _process_locks[loop]


def _setup_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` so writers queue, not fail."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below start transactions, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory. `pooled=False` opens a connection per session,
    which is what a caller without a long-lived event loop needs."""

    def __init__(self, url: str, *, pooled: bool = True, pgbouncer: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            # No pre-ping round trip per checkout: a connection that died is invalidated on
            # first use, its request gets a 503 and the pool reconnects.
            options["pool_recycle"] = 1800
            if pooled:
                options.update(pool_size=10, max_overflow=20, pool_timeout=10)
            options["connect_args"] = {"command_timeout": 30, "timeout": 5}
            if pgbouncer:
                # PgBouncer in transaction mode (DESIGN §11) hands each transaction to any
                # server connection: no statement may be prepared under a reusable name, and
                # no prepared statement may be cached on our side.
                options["connect_args"].update(
                    statement_cache_size=0,
                    prepared_statement_cache_size=0,
                    prepared_statement_name_func=lambda: f"__et_{uuid.uuid4().hex}__",
                )
        if not pooled:
            options["poolclass"] = NullPool
        self.engine = create_async_engine(url, **options)
        self._migration_options = {
            "connect_args": {
                k: v for k, v in options.get("connect_args", {}).items() if k != "command_timeout"
            }
        }
        if self.dialect == "sqlite":
            _setup_sqlite(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`; on PostgreSQL under an advisory lock, so several
        workers starting at once run the migrations exactly once."""
        from app.db.migrate import upgrade

        # Migrations may backfill large tables: no per-statement client timeout for them.
        engine = create_async_engine(self.url, poolclass=NullPool, **self._migration_options)
        if self.dialect == "sqlite":
            _setup_sqlite(engine)
        try:
            await self._migrate_on(engine, revision, upgrade)
        finally:
            await engine.dispose()

    async def _migrate_on(
        self, engine: AsyncEngine, revision: str, upgrade: Callable[[Connection, str], None]
    ) -> None:
        async with _process_lock(), engine.connect() as connection:
            if self.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                await connection.commit()
            try:
                await connection.run_sync(upgrade, revision)
                await connection.commit()
            finally:
                if self.dialect == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                    await connection.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
