"""The process's connections: the database and the cache, opened at start (lifespan) or
lazily on first use, so that an app used without its lifespan (the seed's module-level
`TestClient(app)`) still works."""

import asyncio

from app.config import Settings
from app.db.engine import Database
from app.services.cache import Cache, create_cache


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._database: Database | None = None
        self._cache: Cache | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._migrated = False

    async def start(self) -> None:
        """Open pooled connections for the life of the server (called by the lifespan)."""
        await self._open(pooled=True)

    async def stop(self) -> None:
        if self._database is not None:
            await self._database.dispose()
        if self._cache is not None:
            await self._cache.close()
        self._database = self._cache = self._loop = None

    async def resources(self) -> tuple[Database, Cache]:
        if self._loop is not asyncio.get_running_loop():
            # No lifespan: each call may come on a new event loop, whose connections cannot
            # be shared, so connections are opened per session, bound to no loop.
            await self._open(pooled=False)
        else:
            await self._ready.wait()
        assert self._database is not None and self._cache is not None
        return self._database, self._cache

    async def _open(self, *, pooled: bool) -> None:
        # Everything up to the first await runs at once, so concurrent first requests on
        # the same loop see `_loop` set and wait for `_ready` instead of opening twice.
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._database = Database(self.settings.resolved_database_url, pooled=pooled)
        if self._cache is None or self._cache.backend == "redis":
            self._cache = create_cache(
                self.settings.redis_url, self.settings.cache_enabled, self.settings.redis_prefix
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
