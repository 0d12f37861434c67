"""The async engine and session factory, tuned per database, and migrations at start.

Every statement of a request runs under a time limit (DATABASE_STATEMENT_TIMEOUT_SECONDS), so
one expensive search cannot hold a connection, or SQLite's single writer, for minutes: on
PostgreSQL the server's `statement_timeout` (per connection, or per transaction behind
PgBouncer, which refuses it as a start-up parameter), on SQLite a progress handler that
interrupts the statement. Migrations run without one.
"""

import asyncio
import contextlib
import logging
import math
import time
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import AsyncFileLock
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from mltrail_server.config import get_settings

logger = logging.getLogger(__name__)

# Any fixed number: every worker that starts at once waits on the same lock.
MIGRATION_LOCK_ID = 7_239_104_551
# The execution option that picks how a SQLite transaction begins (IMMEDIATE or DEFERRED).
SQLITE_BEGIN_OPTION = "sqlite_begin"
# SQLite calls the progress handler every this many virtual-machine steps (well under a
# millisecond of work): often enough to stop on time, rarely enough to cost nothing.
SQLITE_PROGRESS_STEPS = 10_000
# asyncpg gives up on a statement this long after the server should have stopped it: a
# backstop for a server that does not answer at all.
CLIENT_TIMEOUT_MARGIN_SECONDS = 5.0

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


class _StatementClock:
    """When the statement running on one SQLite connection must stop. Set on the event loop
    before each statement; read by the progress handler in the driver's thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = math.inf

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def stop(self) -> None:
        self.deadline = math.inf

    def expired(self) -> int:
        # Non-zero makes SQLite stop the statement with "interrupted" (SQLITE_INTERRUPT).
        return int(time.monotonic() > self.deadline)


def _setup_sqlite(engine: AsyncEngine, statement_timeout: float, busy_timeout: float) -> None:
    """WAL, foreign keys, a busy timeout (seconds: how long a writer queues for the write
    lock before SQLite gives up with "database is locked"), and `BEGIN IMMEDIATE` so writers
    queue, not fail; with a `statement_timeout` (seconds, 0 for none), statements that run
    longer stop."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event below start transactions, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={math.ceil(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        if statement_timeout > 0:
            clock = _StatementClock(statement_timeout)
            record.info["statement_clock"] = clock
            # Waiting for a lock (busy_timeout) runs no steps: only work counts.
            dbapi_connection.run_async(
                lambda driver: driver.set_progress_handler(clock.expired, SQLITE_PROGRESS_STEPS)
            )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock up front and queue on it; readers (read sessions) take
        # none, so a search or a chart never makes a writer wait.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    if statement_timeout <= 0:
        return

    # The driver fetches every row inside `execute`, so the clock covers the whole statement.
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start_clock(connection: Connection, *_: Any) -> None:
        clock = connection.connection.info.get("statement_clock")
        if clock is not None:
            clock.start()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _stop_clock(connection: Connection, *_: Any) -> None:
        clock = connection.connection.info.get("statement_clock")
        if clock is not None:
            clock.stop()


def _setup_postgres_timeout_per_transaction(engine: AsyncEngine, milliseconds: int) -> None:
    """`SET LOCAL statement_timeout` at the start of every transaction: behind PgBouncer a
    server connection is only ours for one transaction."""

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")


def _setup_pgbouncer(engine: AsyncEngine) -> None:
    """Every statement in a transaction: PgBouncer in transaction mode gives a connection
    that is outside one a server connection per round trip, so a statement prepared on one
    would be executed on another ("prepared statement ... does not exist"), and `SET LOCAL`
    would set nothing. A request for AUTOCOMMIT (the ingest fast path's) is dropped here."""

    @event.listens_for(engine.sync_engine, "set_connection_execution_options")
    def _no_autocommit(connection: Connection, options: dict[str, Any]) -> None:
        if options.get("isolation_level") == "AUTOCOMMIT":
            del options["isolation_level"]


class Database:
    """One engine and its session factory. `pooled=False` opens a connection per session,
    which is what a caller without a long-lived event loop needs."""

    def __init__(
        self,
        url: str,
        *,
        pooled: bool = True,
        pgbouncer: bool = False,
        statement_timeout: float | None = None,
        pre_ping: bool = False,
        busy_timeout: float | None = None,
    ) -> None:
        """`statement_timeout` in seconds (0 for none); by default the process's setting
        DATABASE_STATEMENT_TIMEOUT_SECONDS. `busy_timeout` (SQLite only, seconds): by
        default DATABASE_BUSY_TIMEOUT_SECONDS. `pre_ping` checks each pooled connection as
        it is taken (a round trip), so a server that restarted is found before a query
        fails: what lets a read fall back from a read replica instead of failing."""
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if statement_timeout is None:
            statement_timeout = get_settings().database_statement_timeout_seconds
        self.statement_timeout = statement_timeout
        if busy_timeout is None:
            busy_timeout = get_settings().database_busy_timeout_seconds
        self.busy_timeout = busy_timeout
        timeout_ms = math.ceil(statement_timeout * 1000)
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": busy_timeout}
        else:
            # No pre-ping round trip per checkout (but on a read replica): a connection that
            # died is invalidated on first use, its request gets a 503 and the pool reconnects.
            options["pool_recycle"] = 1800
            options["pool_pre_ping"] = pre_ping
            if pooled:
                options.update(pool_size=10, max_overflow=20, pool_timeout=10)
            options["connect_args"] = {"timeout": 5}
            if timeout_ms > 0:
                options["connect_args"]["command_timeout"] = (
                    statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS
                )
                if not pgbouncer:
                    options["connect_args"]["server_settings"] = {
                        "statement_timeout": str(timeout_ms)
                    }
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
                key: value
                for key, value in options.get("connect_args", {}).items()
                if key not in ("command_timeout", "server_settings")
            }
        }
        if self.dialect == "sqlite":
            _setup_sqlite(self.engine, statement_timeout, busy_timeout)
        elif pgbouncer:
            _setup_pgbouncer(self.engine)
            if timeout_ms > 0:
                _setup_postgres_timeout_per_transaction(self.engine, timeout_ms)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads take no write lock on SQLite (`BEGIN DEFERRED`).
        self.reader = self.engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        self.read_sessionmaker = async_sessionmaker(self.reader, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A session for a request that writes (on SQLite: `BEGIN IMMEDIATE`)."""
        return self.sessionmaker()

    def read_session(self) -> AsyncSession:
        """A session for a request that only reads (on SQLite: `BEGIN DEFERRED`, which
        holds no write lock; a write in it still works, but may have to be retried)."""
        return self.read_sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`; on PostgreSQL under an advisory lock, so several
        workers starting at once run the migrations exactly once."""
        from mltrail_server.db.migrate import upgrade

        # Migrations may backfill large tables: no per-statement client timeout for them.
        engine = create_async_engine(self.url, poolclass=NullPool, **self._migration_options)
        if self.dialect == "sqlite":
            _setup_sqlite(engine, 0, self.busy_timeout)
        try:
            await self._migrate_on(engine, revision, upgrade)
        finally:
            await engine.dispose()

    async def _migrate_on(
        self, engine: AsyncEngine, revision: str, upgrade: Callable[[Connection, str], None]
    ) -> None:
        async with (
            _process_lock(),
            self._sqlite_file_lock(),
            engine.connect() as connection,
        ):
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

    def _sqlite_file_lock(self) -> contextlib.AbstractAsyncContextManager[object]:
        """On SQLite, a lock file beside the database: processes starting together wait for
        the one migrating as long as it takes (SQLite's busy timeout would give up), then
        find the schema in place. Elsewhere nothing (PostgreSQL has its advisory lock)."""
        database = make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return contextlib.nullcontext()
        return AsyncFileLock(f"{database}.migrate-lock")

    async def dispose(self) -> None:
        await self.engine.dispose()
