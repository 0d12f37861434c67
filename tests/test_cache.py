"""The read cache: shared through Redis between app instances, and never a reason to fail."""

import asyncio

import pytest
import redis.asyncio as aioredis

from mltrail_server.services.cache import MemoryCache, RedisCache, create_cache
from mltrail_server.services.ttl_cache import TtlCache
from tests.conftest import Backend, start_server, stop_server
from tests.factories import create_experiment, create_run
from tests.services_available import REDIS_URL, require_redis


class TestSharedRedis:
    async def test_a_write_through_one_instance_is_seen_through_another(
        self, postgres_backend: Backend
    ) -> None:
        one = await start_server(postgres_backend.settings(), postgres_backend)
        two = await start_server(postgres_backend.settings(), postgres_backend)
        try:
            experiment = await create_experiment(one.client, owner="shared")
            url = f"/api/v1/experiments/{experiment['id']}"
            # Both instances have the page and the list cached in Redis now.
            assert (await two.client.get(url)).json()["description"] is None
            listed = await two.client.get("/api/v1/experiments", params={"owner": "shared"})
            assert listed.json()["total"] == 1

            await one.client.patch(url, json={"description": "changed"})
            await create_run(one.client, experiment["id"])
            await create_experiment(one.client, owner="shared")

            seen = (await two.client.get(url)).json()
            assert seen["description"] == "changed"
            assert seen["run_count"] == 1
            listed = await two.client.get("/api/v1/experiments", params={"owner": "shared"})
            assert listed.json()["total"] == 2
        finally:
            await stop_server(one)
            await stop_server(two)

    async def test_reads_are_served_from_redis(self, postgres_backend: Backend) -> None:
        server = await start_server(postgres_backend.settings(), postgres_backend)
        try:
            experiment = await create_experiment(server.client)
            await server.client.get(f"/api/v1/experiments/{experiment['id']}")
            redis = aioredis.Redis.from_url(REDIS_URL)
            keys = await redis.keys(f"{postgres_backend.settings().redis_prefix}experiment:*")
            await redis.aclose()
            assert any(experiment["id"].encode() in key for key in keys)
        finally:
            await stop_server(server)


class TestRedisDown:
    @pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
    async def test_every_request_still_succeeds(self, backend: Backend) -> None:
        # Nothing listens on port 1: every Redis call fails at once.
        settings = backend.settings(redis_url="redis://127.0.0.1:1/0")
        server = await start_server(settings, backend)
        try:
            experiment = await create_experiment(server.client)
            url = f"/api/v1/experiments/{experiment['id']}"
            for _ in range(3):
                assert (await server.client.get(url)).status_code == 200
                assert (await server.client.get("/api/v1/experiments")).status_code == 200
            patched = await server.client.patch(url, json={"description": "x"})
            assert patched.status_code == 200
            assert (await server.client.get(url)).json()["description"] == "x"
            ready = (await server.client.get("/ready")).json()
            assert ready["status"] == "degraded" and ready["cache"] == "unavailable"
        finally:
            await stop_server(server)


class TestRedisRecovery:
    async def test_writes_missed_during_an_outage_do_not_leave_stale_reads(self) -> None:
        require_redis()
        cache = RedisCache(REDIS_URL, prefix="mltrail-test-recovery:")
        names = ("experiment:x",)
        generations = await cache.generations(*names)
        assert generations is not None
        await cache.set(f"page@{generations}", b"old", 60)
        # An invalidation that could not reach Redis...
        cache._down_until = float("inf")
        await cache.bump(*names)
        cache._down_until = 0.0
        # ...makes the next use bump the global generation, so old keys are never read.
        assert await cache.generations(*names) != generations
        await cache.close()


class TestMemoryCache:
    async def test_generations_invalidate_and_size_is_bounded(self) -> None:
        cache = MemoryCache(max_entries=2)
        before = await cache.generations("a")
        await cache.bump("a")
        assert await cache.generations("a") != before
        for key in ("k1", "k2", "k3"):
            await cache.set(key, b"v", 60)
        assert await cache.get("k1") is None
        assert await cache.get("k3") == b"v"

    async def test_entries_expire(self) -> None:
        cache = MemoryCache()
        await cache.set("k", b"v", ttl=-1)
        assert await cache.get("k") is None


class TestTtlCache:
    """The one in-process cache with expiry, behind MemoryCache and the auth lookups."""

    def test_an_entry_lives_its_ttl_and_the_least_recently_used_goes_first(self) -> None:
        cache: TtlCache[str, int] = TtlCache(ttl=3600, size=2)
        cache.put("a", 1)
        cache.put("b", 2)
        assert cache.get("a") == 1  # now "b" is the least recently used
        cache.put("c", 3)
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
        cache.put("d", 4, ttl=0)  # its own ttl: expired at once ("a" made room for it)
        assert cache.get("d") is None and cache.get("a") is None
        assert len(cache) == 1  # the expired entry was dropped when read


async def test_cache_off_still_serves(sqlite_backend: Backend) -> None:
    server = await start_server(sqlite_backend.settings(cache_enabled=False), sqlite_backend)
    try:
        experiment = await create_experiment(server.client)
        body = (await server.client.get(f"/api/v1/experiments/{experiment['id']}")).json()
        assert body["id"] == experiment["id"]
        assert (await server.client.get("/ready")).json()["cache_backend"] == "off"
    finally:
        await stop_server(server)


class HungRedis:
    """A TCP server that accepts connections and reads commands but never answers, as a
    hung Redis or a network partition looks to a client. Counts the commands it was sent."""

    def __init__(self) -> None:
        self.commands = 0
        self._server: asyncio.Server | None = None
        self._connections: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"redis://{host}:{port}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.append(writer)
        buffer = b""
        while chunk := await reader.read(65536):
            buffer += chunk
            while (taken := command_length(buffer)) is not None:
                self.commands += 1
                buffer = buffer[taken:]

    async def stop(self) -> None:
        for writer in self._connections:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def command_length(buffer: bytes) -> int | None:
    """The length of the first complete RESP command in `buffer` (an array of bulk
    strings), or None while it is incomplete."""
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    count, position = int(buffer[1:end]), end + 2
    for _ in range(count):
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        position = end + 2 + int(buffer[position + 1 : end]) + 2
        if position > len(buffer):
            return None
    return position


class TestHungRedis:
    """README: "Redis being down or slow never fails a request: the cache is bypassed (after
    at most 250 ms)". The wait is the client's socket timeouts; the bypass means one request
    pays it, and the requests after it do not touch Redis at all (counted by the hung server,
    not timed)."""

    async def test_the_promised_timeouts_are_what_the_client_uses(self) -> None:
        cache = create_cache("redis://127.0.0.1:6379/0", enabled=True)
        try:
            assert isinstance(cache, RedisCache)
            assert cache.timeouts == (0.25, 0.25)
        finally:
            await cache.close()

    async def test_one_request_waits_on_a_hung_redis_and_the_next_ones_bypass_it(self) -> None:
        hung = HungRedis()
        cache = RedisCache(await hung.start(), prefix="hung:")
        try:
            # Bounded by the test, not asserted: a client without timeouts would hang here.
            assert await asyncio.wait_for(cache.generations("experiments"), 60) is None
            waited_on = hung.commands
            assert waited_on >= 1, "the first request did not try Redis"
            for _ in range(50):
                assert await cache.generations("experiments") is None
                assert await cache.get("experiment:1") is None
                await cache.set("experiment:1", b"{}", ttl=60)
            assert hung.commands == waited_on, "requests kept waiting on the hung Redis"
        finally:
            await cache.close()
            await hung.stop()
