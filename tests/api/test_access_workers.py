"""Two server processes on one PostgreSQL database, as two workers of a deployment: a key
revoked, a user disabled or demoted, or a grant revoked through one is refused by the other
at its very next request when they share Redis, and within the cache's bound without it;
and the Redis rate limiter's bucket is the same on both."""

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService, Role
from tests.conftest import (
    _async_url,
    _create_postgres_database,
    _drop_postgres_database,
    side_database,
)
from tests.sdk.live_server import free_port, spawn_uvicorn, wait_until_healthy
from tests.services_available import REDIS_URL, require_postgres, require_redis

# Without Redis a change reaches the other worker when its cache entry expires (5 s);
# the deadline is far above that so a busy machine does not fail the test.
WITHOUT_REDIS_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Worker:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def request(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.url + path, headers={"X-API-Key": key}, timeout=10, **kwargs
        )


@dataclass(frozen=True)
class Team:
    admin_key: str
    owner_key: str
    member_id: str
    member_key: str


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this module's servers."""
    require_postgres()
    name = f"mltrail_workers_{uuid.uuid4().hex[:8]}"
    url = _create_postgres_database(name)

    async def migrate() -> None:
        database = side_database(_async_url(url))
        await database.migrate()
        await database.dispose()

    asyncio.run(migrate())
    yield url
    _drop_postgres_database(name)


@pytest.fixture
def team(database_url: str) -> Team:
    """An admin, an owner and a member, each with a key, made straight in the database (no
    request spends a rate-limit token before the test does)."""

    async def create() -> Team:
        database = side_database(_async_url(database_url))
        keys: dict[str, tuple[str, str]] = {}
        async with transaction(database.session()) as session:
            service = AuthService(session)
            for label, role in (("admin", Role.ADMIN), ("owner", Role.MEMBER), ("m", Role.MEMBER)):
                user = await service.create_user(f"{label}-{uuid.uuid4().hex[:8]}", role)
                _, raw = await service.create_key(user.id, "t")
                keys[label] = (str(user.id), raw)
        await database.dispose()
        return Team(keys["admin"][1], keys["owner"][1], keys["m"][0], keys["m"][1])

    return asyncio.run(create())


class Workers:
    """Two uvicorn processes on free ports over the same database (and Redis, if given);
    `stop()` ends both."""

    def __init__(self, database_url: str, directory: Path, redis_url: str, **env: str) -> None:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"mltrail-workers-{uuid.uuid4().hex[:8]}:",
            "AUTH_ENABLED": "true",
            "MIGRATE_ON_START": "false",
            "DATA_DIR": str(directory),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.workers: list[Worker] = []
        for index in range(2):
            port = free_port()
            log = directory / f"worker-{index}.log"
            process = spawn_uvicorn(port, environment, log)
            self.workers.append(Worker(f"http://127.0.0.1:{port}", process, log))

    def started(self) -> tuple[Worker, Worker]:
        for worker in self.workers:
            wait_until_healthy(worker.process, worker.url, worker.log)
        return self.workers[0], self.workers[1]

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)


# The workers serve a module's tests: each test's team is new, so nothing a worker has cached
# or counted for one test's keys is met by another.
@pytest.fixture(scope="module")
def with_redis(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Worker]]:
    require_redis()
    workers = Workers(database_url, tmp_path_factory.mktemp("with-redis"), REDIS_URL)
    try:
        yield workers.started()
    finally:
        workers.stop()


@pytest.fixture(scope="module")
def without_redis(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Worker]]:
    workers = Workers(database_url, tmp_path_factory.mktemp("without-redis"), "")
    try:
        yield workers.started()
    finally:
        workers.stop()


def create_experiment(worker: Worker, key: str) -> httpx.Response:
    """A write any member may make."""
    body = {"name": f"e-{uuid.uuid4().hex[:10]}"}
    return worker.request("POST", "/api/v1/experiments", key, json=body)


def change(worker: Worker, team: Team, kind: str) -> None:
    """Take the member's write access away through `worker`, as `kind` says."""
    if kind == "revoke key":
        keys = worker.request(
            "GET", "/api/v1/keys", team.admin_key, params={"user_id": team.member_id}
        )
        [key] = keys.json()
        response = worker.request("DELETE", f"/api/v1/keys/{key['id']}", team.admin_key)
    else:
        body = {"disabled": True} if kind == "disable user" else {"role": "viewer"}
        response = worker.request(
            "PATCH", f"/api/v1/users/{team.member_id}", team.admin_key, json=body
        )
    assert response.status_code == 200, response.text


CHANGES = ["revoke key", "disable user", "demote user"]
REFUSED = {"revoke key": 401, "disable user": 401, "demote user": 403}


class TestWithRedisTheOtherWorkerRefusesAtOnce:
    @pytest.mark.parametrize("kind", CHANGES)
    def test_the_next_request_is_refused(
        self, with_redis: tuple[Worker, Worker], team: Team, kind: str
    ) -> None:
        first, second = with_redis
        # The second worker has the member's identity cached (it just answered it).
        for _ in range(2):
            assert create_experiment(second, team.member_key).status_code == 201
        change(first, team, kind)
        assert create_experiment(first, team.member_key).status_code == REFUSED[kind]
        assert create_experiment(second, team.member_key).status_code == REFUSED[kind]

    def test_a_revoked_grant(self, with_redis: tuple[Worker, Worker], team: Team) -> None:
        first, second = with_redis
        experiment = create_experiment(first, team.owner_key).json()["id"]
        grants = f"/api/v1/experiments/{experiment}/grants"
        granted = first.request("POST", grants, team.owner_key, json={"user_id": team.member_id})
        assert granted.status_code == 204
        runs = f"/api/v1/experiments/{experiment}/runs"
        for _ in range(2):
            assert second.request("POST", runs, team.member_key, json={}).status_code == 201
        revoked = first.request("DELETE", f"{grants}/{team.member_id}", team.owner_key)
        assert revoked.status_code == 204
        assert second.request("POST", runs, team.member_key, json={}).status_code == 403


class TestWithoutRedisTheOtherWorkerRefusesWithinTheBound:
    @pytest.mark.parametrize("kind", CHANGES)
    def test_refused_before_the_deadline(
        self, without_redis: tuple[Worker, Worker], team: Team, kind: str
    ) -> None:
        first, second = without_redis
        assert create_experiment(second, team.member_key).status_code == 201
        change(first, team, kind)
        assert create_experiment(first, team.member_key).status_code == REFUSED[kind]
        deadline = time.monotonic() + WITHOUT_REDIS_DEADLINE_SECONDS
        status = create_experiment(second, team.member_key).status_code
        while status != REFUSED[kind] and time.monotonic() < deadline:
            assert status == 201
            status = create_experiment(second, team.member_key).status_code
        assert status == REFUSED[kind], (
            f"the second worker still accepted the member {WITHOUT_REDIS_DEADLINE_SECONDS}s "
            f"after the {kind}"
        )


class TestTheRedisRateLimitIsSharedByWorkers:
    def test_the_bucket_empties_across_both(
        self, database_url: str, tmp_path: Path, team: Team
    ) -> None:
        require_redis()
        # Three requests, then one token per 100 s: the fourth is refused wherever it lands.
        workers = Workers(
            database_url, tmp_path, REDIS_URL, RATE_LIMIT_BURST="3", RATE_LIMIT_PER_SECOND="0.01"
        )
        try:
            first, second = workers.started()
            me = "/api/v1/me"
            statuses = [
                first.request("GET", me, team.member_key).status_code,
                first.request("GET", me, team.member_key).status_code,
                second.request("GET", me, team.member_key).status_code,
            ]
            assert statuses == [200, 200, 200]
            for worker in (second, first):
                refused = worker.request("GET", me, team.member_key)
                assert refused.status_code == 429
                assert int(refused.headers["retry-after"]) >= 1
                assert "Rate limit" in refused.json()["detail"]
            # Another user's bucket is its own.
            assert second.request("GET", me, team.owner_key).status_code == 200
        finally:
            workers.stop()
