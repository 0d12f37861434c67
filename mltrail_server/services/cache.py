"""The read cache (DESIGN §5): Redis when `REDIS_URL` is set, else in-process.

Entries are invalidated by generation counters that are part of every key: a write bumps the
counters of what it changed (after its commit), and readers simply stop finding the old keys,
which expire by TTL. No pattern deletes. A global `all` generation is bumped when Redis comes
back after an outage, since invalidations during the outage were lost.

Redis down or slow never fails a request: every Redis error is logged, the cache is bypassed,
and Redis is left alone for a short while before it is tried again.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from mltrail_server.services.telemetry import CACHE_HITS, CACHE_MISSES
from mltrail_server.services.ttl_cache import TtlCache

logger = logging.getLogger(__name__)

GLOBAL = "all"
M = TypeVar("M", bound=BaseModel)


class Cache(Protocol):
    backend: str

    async def generations(self, *names: str) -> list[int] | None:
        """The current generation of each name, or None if the cache cannot be used now."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> None: ...

    async def bump(self, *names: str) -> None:
        """Invalidate everything cached under these names."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class NullCache:
    """The cache turned off (`CACHE_ENABLED=false`)."""

    backend = "off"

    async def generations(self, *names: str) -> list[int] | None:
        return None

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        return None

    async def bump(self, *names: str) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class MemoryCache:
    """A bounded LRU in this process. Correct for one process only."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        # Every entry is put with its own TTL; the default is never used.
        self._entries: TtlCache[str, bytes] = TtlCache(ttl=0, size=max_entries)
        self._generations: dict[str, int] = {}

    async def generations(self, *names: str) -> list[int] | None:
        return [self._generations.get(name, 0) for name in (GLOBAL, *names)]

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._entries.put(key, value, ttl)

    async def bump(self, *names: str) -> None:
        for name in names:
            self._generations[name] = self._generations.get(name, 0) + 1

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Redis, shared by every worker and host."""

    backend = "redis"
    RETRY_AFTER_SECONDS = 5.0
    RECOVER_EVERY_SECONDS = 0.5

    def __init__(self, url: str, prefix: str = "mltrail:", timeout: float = 0.25) -> None:
        self.prefix = prefix
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self._down_until = 0.0
        self._lost_invalidations = False
        self._recovering: asyncio.Task[None] | None = None

    @property
    def timeouts(self) -> tuple[float, float]:
        """How long (seconds) a request waits for Redis to connect and to answer before the
        cache is bypassed: what the client was really given."""
        kwargs = self._client.connection_pool.connection_kwargs
        return kwargs["socket_connect_timeout"], kwargs["socket_timeout"]

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, action: str, exc: BaseException) -> None:
        if self._available():
            logger.warning("redis unavailable during %s, bypassing the cache: %s", action, exc)
        self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS

    async def _recover(self) -> None:
        # Invalidations made while Redis was unreachable are lost: drop everything instead.
        if self._lost_invalidations:
            await self._client.incr(self._gen_key(GLOBAL))
            self._lost_invalidations = False
            logger.info("redis is back; cache invalidated")

    def _gen_key(self, name: str) -> str:
        return f"{self.prefix}gen:{name}"

    async def generations(self, *names: str) -> list[int] | None:
        if not self._available():
            return None
        try:
            await self._recover()
            values = await self._client.mget([self._gen_key(n) for n in (GLOBAL, *names)])
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        return [int(value) if value is not None else 0 for value in values]

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = await self._client.get(self.prefix + key)
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        if not self._available():
            return
        try:
            await self._client.set(self.prefix + key, value, ex=ttl)
        except (RedisError, OSError) as exc:
            self._failed("write", exc)

    async def bump(self, *names: str) -> None:
        if not self._available():
            self._lose_invalidations()
            return
        try:
            await self._recover()
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.incr(self._gen_key(name))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._lose_invalidations()
            self._failed("invalidate", exc)

    def _lose_invalidations(self) -> None:
        """Other servers keep reading what this one could not invalidate until the global
        generation is bumped: do it as soon as Redis answers, not at this server's next
        request, which may come much later."""
        self._lost_invalidations = True
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(self._recover_soon())

    async def _recover_soon(self) -> None:
        while self._lost_invalidations:
            await asyncio.sleep(self.RECOVER_EVERY_SECONDS)
            try:
                await self._recover()
            except (RedisError, OSError):
                continue

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._recovering is not None:
            self._recovering.cancel()
        await self._client.aclose()


def create_cache(redis_url: str, enabled: bool, prefix: str = "mltrail:") -> Cache:
    if not enabled:
        return NullCache()
    if redis_url:
        return RedisCache(redis_url, prefix)
    return MemoryCache()


async def read_through(
    cache: Cache,
    model: type[M],
    names: tuple[str, ...],
    key: str,
    ttl: int,
    load: Callable[[], Awaitable[M]],
) -> M:
    """Serve `key` from the cache under the current generations of `names`, or load it and
    store it. Loads always happen when the cache cannot be used."""
    generations = await cache.generations(*names)
    if generations is None:
        return await load()
    versioned = f"{key}@{'.'.join(map(str, generations))}"
    hit = await cache.get(versioned)
    if hit is not None:
        CACHE_HITS.inc()
        return model.model_validate_json(hit)
    CACHE_MISSES.inc()
    value = await load()
    await cache.set(versioned, value.model_dump_json().encode(), ttl)
    return value
