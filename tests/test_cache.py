"""The read cache: shared through Redis between app instances, and never a reason to fail."""

import pytest
import redis.asyncio as aioredis

from mltrail_server.services.cache import MemoryCache, RedisCache
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


async def test_cache_off_still_serves(sqlite_backend: Backend) -> None:
    server = await start_server(sqlite_backend.settings(cache_enabled=False), sqlite_backend)
    try:
        experiment = await create_experiment(server.client)
        body = (await server.client.get(f"/api/v1/experiments/{experiment['id']}")).json()
        assert body["id"] == experiment["id"]
        assert (await server.client.get("/ready")).json()["cache_backend"] == "off"
    finally:
        await stop_server(server)
