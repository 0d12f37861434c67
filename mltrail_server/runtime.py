"""The process's connections: the database and the cache, opened at start (lifespan) or
lazily on first use, so that an app used without its lifespan (the seed's module-level
`TestClient(app)`) still works."""

import asyncio
import logging
import sys
from datetime import timedelta

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.config import Settings
from mltrail_server.db.engine import Database
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.artifact_purge import PurgeDrainer
from mltrail_server.services.audit import AuditLog
from mltrail_server.services.auth import AuthService, auth_required
from mltrail_server.services.cache import Cache, create_cache
from mltrail_server.services.gc import GarbageCollector, GcScheduler
from mltrail_server.services.rate_limit import RateLimiter
from mltrail_server.services.read_routing import ReadRouting, RecentWriters, ReplicaState
from mltrail_server.storage import (
    LocalArtifactStore,
    ObjectArtifactStore,
    ObjectStoreUnreachable,
    open_artifact_store,
)
from mltrail_server.worker_processes import IN_PROCESS_CACHE_OFF_MESSAGE, one_of_several_workers

logger = logging.getLogger(__name__)

UPGRADE_COMMAND = "mltrail db upgrade"


class SchemaMissing(RuntimeError):
    """MIGRATE_ON_START=false and the database has no schema: the server refuses to start,
    as it does for a bad setting, with one line that says which command fixes it."""


class ArtifactStoreUnreachable(RuntimeError):
    """ARTIFACT_ROOT names a bucket that answered no request at start: the server refuses to
    start, with one line that names the variable and the store's reason."""


class _DropTracebackOf(logging.Filter):
    """uvicorn logs a failed start-up as the traceback Starlette formatted for it. For an
    error that one command fixes, the line already logged says everything; the traceback
    would only bury it."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.msg if isinstance(record.msg, str) else ""
        return not (text.startswith("Traceback") and self.message in text)


def _schema_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._database: Database | None = None
        # The read replica (DATABASE_READ_URL), if any: see services/read_routing.py.
        self._replica: Database | None = None
        self._cache: Cache | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._migrated = False
        self.audit = AuditLog()
        # One store (and so one connection pool to a bucket) for the life of the process.
        self.artifact_store: LocalArtifactStore | ObjectArtifactStore = open_artifact_store(
            settings
        )
        # Deletes the artifacts of purged runs and experiments (services/artifact_purge.py).
        self.purge_drainer = PurgeDrainer(self.artifact_store, self._purge_database)
        # Purges soft-deleted runs and experiments (services/gc.py): on demand, and every
        # GC_INTERVAL_SECONDS when GC_DELETED_AFTER_DAYS is set.
        self.gc = GarbageCollector(self._purge_database, self.purge_drainer.wake, self._gc_cache)
        self.gc_scheduler: GcScheduler | None = None
        if settings.gc_deleted_after_days > 0:
            self.gc_scheduler = GcScheduler(
                self.gc,
                timedelta(days=settings.gc_deleted_after_days),
                settings.gc_interval_seconds,
            )
        self.rate_limiter = RateLimiter(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
            settings.redis_url,
            settings.redis_prefix,
        )
        self.read_routing = ReadRouting(
            RecentWriters(
                settings.database_read_your_writes_seconds,
                settings.redis_url if settings.database_read_url else "",
                settings.redis_prefix,
            )
        )

    async def start(self) -> None:
        """Open pooled connections for the life of the server (called by the lifespan),
        create the first admin key on an empty database, and start the audit writer and the
        drainer of artifact purges."""
        await self._probe_artifact_store()
        await self._open(pooled=True)
        assert self._database is not None
        if not self.settings.migrate_on_start:
            await self._require_schema(self._database)
        async with transaction(self._database.session()) as session:
            first_key = await AuthService(session).bootstrap_admin()
        if first_key is not None:
            # Shown once, never stored: print it where the operator sees it.
            print(
                f"\n  First admin API key (shown once, keep it safe): {first_key}\n"
                "  Use it as X-API-Key or Authorization: Bearer; create more with the\n"
                "  /api/v1/keys API or `mltrail keys create`.\n",
                file=sys.stderr,
                flush=True,
            )
            logger.warning("created user 'admin' and its first API key (printed above)")
        if not auth_required(self.settings.auth_enabled, (self.settings.host,)):
            logger.warning(
                "authentication is OFF while the server listens only on loopback; if it "
                "listens on any other address, every request needs a key "
                "(AUTH_ENABLED=true turns it on, false turns it off, everywhere)"
            )
        self.audit.start(self._database)
        # Purges queued before this start (by a process that stopped, or another host).
        self.purge_drainer.start()
        if self.gc_scheduler is not None:
            self.gc_scheduler.start()

    async def _probe_artifact_store(self) -> None:
        store = self.artifact_store
        if not isinstance(store, ObjectArtifactStore):
            return
        try:
            await store.probe()
        except ObjectStoreUnreachable as exc:
            endpoint = self.settings.artifact_s3_endpoint_url
            message = (
                f"ARTIFACT_ROOT={self.settings.artifact_root}: the store cannot be reached "
                f"({exc}); check the bucket's name, the credentials in the environment"
                + (f" and ARTIFACT_S3_ENDPOINT_URL={endpoint}" if endpoint else "")
            )
            logger.critical(message)
            logging.getLogger("uvicorn.error").addFilter(_DropTracebackOf(message))
            raise ArtifactStoreUnreachable(message) from None

    async def _require_schema(self, database: Database) -> None:
        async with database.reader.connect() as connection:
            revision = await connection.run_sync(_schema_revision)
        if revision is not None:
            return
        message = (
            f"the database at {self.settings.shown_database_url} has no schema: run "
            f"`{UPGRADE_COMMAND}` (or start with MIGRATE_ON_START=true)"
        )
        logger.critical(message)
        logging.getLogger("uvicorn.error").addFilter(_DropTracebackOf(message))
        await self.stop()
        raise SchemaMissing(message)

    async def _purge_database(self) -> Database:
        database, _ = await self.resources()
        return database

    async def _gc_cache(self) -> Cache:
        _, cache = await self.resources()
        return cache

    async def stop(self) -> None:
        if self.gc_scheduler is not None:
            await self.gc_scheduler.stop()
        await self.purge_drainer.stop()
        await self.audit.stop()
        await self.rate_limiter.close()
        await self.read_routing.close()
        for database in (self._database, self._replica):
            if database is not None:
                await database.dispose()
        if self._cache is not None:
            await self._cache.close()
        self._database = self._replica = self._cache = self._loop = None

    async def resources(self) -> tuple[Database, Cache]:
        if self._loop is not asyncio.get_running_loop():
            # No lifespan: each call may come on a new event loop, whose connections cannot
            # be shared, so connections are opened per session, bound to no loop.
            await self._open(pooled=False)
        else:
            await self._ready.wait()
        assert self._database is not None and self._cache is not None
        return self._database, self._cache

    async def read_session(self, principal: str | None) -> AsyncSession:
        """A session for a request of `principal` that only reads: on the read replica, or
        on the primary when there is none, it cannot be reached, or `principal` has just
        written (services/read_routing.py)."""
        database, _ = await self.resources()
        return await self.read_routing.read_session(database, self._replica, principal)

    async def replica_state(self) -> ReplicaState:
        await self.resources()
        return await self.read_routing.replica_state(self._replica)

    async def gc_backlog(self) -> tuple[int, int]:
        """Runs and experiments soft-deleted long enough to be purged: longer than
        GC_DELETED_AFTER_DAYS, or, with no background collection, at all."""
        scheduler = self.gc_scheduler
        return await self.gc.backlog(scheduler.older_than if scheduler else timedelta(0))

    async def replica_lag(self) -> float | None:
        await self.resources()
        return await self.read_routing.replica_lag(self._replica)

    def _cache_enabled(self) -> bool:
        """The setting, except for an in-memory cache in one of several workers: off."""
        if not self.settings.cache_enabled or self.settings.redis_url:
            return self.settings.cache_enabled
        if one_of_several_workers():
            logger.warning(IN_PROCESS_CACHE_OFF_MESSAGE)
            return False
        return True

    async def _open(self, *, pooled: bool) -> None:
        # Everything up to the first await runs at once, so concurrent first requests on
        # the same loop see `_loop` set and wait for `_ready` instead of opening twice.
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._database = Database(
            self.settings.resolved_database_url,
            pooled=pooled,
            pgbouncer=self.settings.database_pgbouncer,
            statement_timeout=self.settings.database_statement_timeout_seconds,
            busy_timeout=self.settings.database_busy_timeout_seconds,
        )
        if read_url := self.settings.resolved_database_read_url:
            self._replica = Database(
                read_url,
                pooled=pooled,
                pgbouncer=self.settings.database_pgbouncer,
                statement_timeout=self.settings.database_statement_timeout_seconds,
                pre_ping=True,
            )
        if self._cache is None or self._cache.backend == "redis":
            self._cache = create_cache(
                self.settings.redis_url, self._cache_enabled(), self.settings.redis_prefix
            )
        try:
            if self.settings.migrate_on_start and not self._migrated:
                await self._database.migrate()
                self._migrated = True
        except BaseException:
            self._loop = None
            raise
        finally:
            self._ready.set()
