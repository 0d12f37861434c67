"""Purges are durable: the purge of a run or an experiment queues the deletion of its
artifact folder in its own transaction (`artifact_purge`), and a drainer deletes it in the
background, retrying while the store is down, after a restart too, and never for a purge
that was rolled back. On SQLite and PostgreSQL with the local store in process; on a real
S3 endpoint (moto, behind a relay the test cuts) with live server processes."""

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import artifact_purges
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.runtime import Runtime
from mltrail_server.services.artifact_purge import ArtifactPurges
from mltrail_server.services.runs import RunService
from mltrail_server.storage import LocalArtifactStore
from tests.conftest import Backend, Server
from tests.factories import create_experiment, create_run
from tests.objstore.s3 import Moto, Relay, S3Bucket
from tests.sdk.live_server import LiveServer

DEADLINE_SECONDS = 90.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


async def _eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


# -- in process, on SQLite and PostgreSQL, local store --------------------------------------------


def _runtime(server: Server) -> Runtime:
    runtime: Runtime = server.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def _pending(server: Server) -> list[str]:
    database, _ = await _runtime(server).resources()
    async with database.read_session() as session:
        rows = await session.execute(text("SELECT prefix FROM artifact_purge ORDER BY id"))
        return [row[0] for row in rows]


async def _run_with_a_file(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    put = await client.put(f"/api/v1/runs/{run['id']}/artifacts/d/model.bin", content=b"w")
    assert put.status_code == 201, put.text
    return experiment, run


def _run_folder(server: Server, experiment: dict[str, Any], run: dict[str, Any]) -> Path:
    store = _runtime(server).artifact_store
    assert isinstance(store, LocalArtifactStore)
    return store.root / uuid.UUID(experiment["id"]).hex / uuid.UUID(run["id"]).hex


class TestLocalStore:
    async def test_a_purged_runs_files_go_and_its_queue_row_with_them(self, server: Server) -> None:
        experiment, run = await _run_with_a_file(server.client)
        folder = _run_folder(server, experiment, run)
        assert (folder / "artifacts" / "d" / "model.bin").read_bytes() == b"w"

        purged = await server.client.delete(f"/api/v1/runs/{run['id']}", params={"purge": "true"})
        assert purged.status_code == 204

        async def done() -> bool:
            return not (folder / "artifacts").exists() and await _pending(server) == []

        await _eventually(done, "the purged run's files and its queue row gone")

    async def test_a_purged_experiments_files_go(self, server: Server) -> None:
        experiment, run = await _run_with_a_file(server.client)
        folder = _run_folder(server, experiment, run)
        url = f"/api/v1/experiments/{experiment['id']}"
        assert (await server.client.delete(url, params={"purge": "true"})).status_code == 204

        async def done() -> bool:
            return not folder.parent.exists() and await _pending(server) == []

        await _eventually(done, "the purged experiment's folder and its queue row gone")


class TestRolledBack:
    async def test_a_purge_that_rolls_back_queues_nothing_and_keeps_the_files(
        self, server: Server
    ) -> None:
        experiment, run = await _run_with_a_file(server.client)
        runtime = _runtime(server)
        database, cache = await runtime.resources()
        run_id = uuid.UUID(run["id"])
        prefix = f"{uuid.UUID(experiment['id']).hex}/{run_id.hex}/artifacts"

        with pytest.raises(RuntimeError, match="after the purge"):
            async with transaction(database.session()) as session:
                await RunService(session, cache).delete_run(run_id, purge=True)
                await ArtifactPurges(session, runtime.purge_drainer).queue(prefix)
                raise RuntimeError("the request failed after the purge")

        assert await _pending(server) == []
        await runtime.purge_drainer.drain()  # a pass of the drainer finds nothing to do
        assert (await server.client.get(f"/api/v1/runs/{run['id']}")).status_code == 200
        kept = await server.client.get(f"/api/v1/runs/{run['id']}/artifacts/d/model.bin")
        assert kept.content == b"w"


class TestConcurrentDrainers:
    async def test_a_claimed_row_is_skipped_by_another_drainer_until_its_lease_ends(
        self, postgres_backend: Backend
    ) -> None:
        """Two drainers claiming at once on PostgreSQL (FOR UPDATE SKIP LOCKED): the second
        gets none of the rows the first holds, neither while its claim is open nor after."""
        database = Database(postgres_backend.settings().resolved_database_url, pooled=False)
        folder = f"concurrent-{uuid.uuid4().hex}"
        prefixes = [f"{folder}/{n}" for n in range(3)]
        now = utcnow()
        lease_until = now + timedelta(minutes=5)
        try:
            async with transaction(database.session()) as session:
                await session.execute(text("DELETE FROM artifact_purge"))
                for prefix in prefixes:
                    await artifact_purges.queue(session, prefix, now)
            first, second = database.session(), database.session()
            async with first, second:
                held = await artifact_purges.claim_due(first, utcnow(), lease_until, 10)
                # The first claim is not committed: its rows are locked, and skipped.
                assert await artifact_purges.claim_due(second, utcnow(), lease_until, 10) == []
                await first.commit()
                assert await artifact_purges.claim_due(second, utcnow(), lease_until, 10) == []
                await second.commit()
            assert sorted(row.prefix for row in held) == prefixes
            assert {row.attempts for row in held} == {1}

            # A drainer that died holding them: the next takes them once the lease is over.
            async with transaction(database.session()) as session:
                after = lease_until + timedelta(seconds=1)
                again = await artifact_purges.claim_due(session, after, after, 10)
            assert sorted(row.prefix for row in again) == prefixes
            assert {row.attempts for row in again} == {2}
        finally:
            async with transaction(database.session()) as session:
                await session.execute(text("DELETE FROM artifact_purge"))
            await database.dispose()


# -- live servers on S3 (moto behind a relay) -----------------------------------------------------


def _rows(database: Path) -> list[tuple[str, int, str | None]]:
    """The queue as the server's SQLite database holds it: (prefix, attempts, last_error)."""
    with sqlite3.connect(database, timeout=60) as connection:
        query = "SELECT prefix, attempts, last_error FROM artifact_purge ORDER BY id"
        return [(row[0], int(row[1]), row[2]) for row in connection.execute(query)]


def _run_keys(bucket: S3Bucket, run_id: str) -> list[str]:
    return [key for key in bucket.object_keys() if f"/{uuid.UUID(run_id).hex}/" in key]


def _new_run_with_files(http: httpx.Client) -> tuple[str, str]:
    name = f"queue-{uuid.uuid4().hex[:8]}"
    experiment = http.post("/api/v1/experiments", json={"name": name, "owner": "t"}).json()
    run = http.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}).json()
    for path in ("a.txt", "d/b.txt"):
        assert http.put(f"/api/v1/runs/{run['id']}/artifacts/{path}", content=b"x").is_success
    return experiment["id"], run["id"]


def _backlog(server: LiveServer) -> float | None:
    for line in httpx.get(f"{server.url}/metrics", timeout=30).text.splitlines():
        if line.startswith("mltrail_artifact_purge_backlog "):
            return float(line.split()[1])
    return None


@pytest.fixture
def relay(moto: Moto) -> Iterator[Relay]:
    """A relay to moto that the test cuts: the store is down, its objects still there."""
    relayed = Relay(moto.port)
    relayed.start()
    yield relayed
    relayed.stop()


class TestStoreDown:
    def test_the_purge_answers_at_once_and_its_objects_go_when_the_store_is_back(
        self, tmp_path: Path, moto: Moto, relay: Relay
    ) -> None:
        bucket = moto.bucket(endpoint=relay.url)
        server = LiveServer(tmp_path, {**bucket.server_env(), "AUTH_ENABLED": "false"})
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                experiment_id, run_id = _new_run_with_files(http)
                relay.cut()
                purged = http.delete(f"/api/v1/runs/{run_id}", params={"purge": "true"})
                assert purged.status_code == 204  # not held up by the store
                assert http.get(f"/api/v1/runs/{run_id}").status_code == 404

                prefix = f"{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"

                def failed_once() -> bool:
                    rows = _rows(server.database)
                    return len(rows) == 1 and rows[0][1] >= 1 and rows[0][2] is not None

                _wait_for(failed_once, "a failed attempt recorded on the queued purge")
                assert _rows(server.database)[0][0] == prefix
                assert len(_run_keys(bucket, run_id)) == 2  # still there: the store is down
                _wait_for(lambda: _backlog(server) == 1.0, "/metrics showing one pending purge")

                relay.restore()
                _wait_for(lambda: _run_keys(bucket, run_id) == [], "the purged objects gone")
                _wait_for(lambda: _rows(server.database) == [], "the queue row gone")
                _wait_for(lambda: _backlog(server) == 0.0, "/metrics showing no pending purge")
        finally:
            server.stop()


class TestRestart:
    def test_a_purge_queued_before_a_restart_completes_after_it_without_a_request(
        self, tmp_path: Path, moto: Moto, relay: Relay
    ) -> None:
        bucket = moto.bucket(endpoint=relay.url)
        first = LiveServer(tmp_path / "first", {**bucket.server_env(), "AUTH_ENABLED": "false"})
        first.directory.mkdir()
        first.start()
        try:
            with httpx.Client(base_url=first.url, timeout=60) as http:
                experiment_id, run_id = _new_run_with_files(http)
                relay.cut()  # the store is unreachable for the rest of this server's life
                url = f"/api/v1/experiments/{experiment_id}"
                assert http.delete(url, params={"purge": "true"}).status_code == 204
            _wait_for(
                lambda: [row[1] >= 1 for row in _rows(first.database)] == [True],
                "a failed attempt of the first server recorded",
            )
        finally:
            first.stop()
        assert [row[0] for row in _rows(first.database)] == [uuid.UUID(experiment_id).hex]
        assert len(_run_keys(bucket, run_id)) == 2

        # A new process on the same database, whose store works: nobody sends it a request.
        second_env = {
            **bucket.server_env(),
            "ARTIFACT_S3_ENDPOINT_URL": moto.url,
            "AUTH_ENABLED": "false",
            "DATABASE_URL": f"sqlite:///{first.database}",
            "MIGRATE_ON_START": "false",
        }
        second = LiveServer(tmp_path / "second", second_env)
        second.directory.mkdir()
        second.start()
        try:
            _wait_for(lambda: _run_keys(bucket, run_id) == [], "the purged objects gone")
            _wait_for(lambda: _rows(first.database) == [], "the queue row gone")
        finally:
            second.stop()
