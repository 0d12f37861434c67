"""DATABASE_READ_URL against a real streaming replica: where each read is answered, and
the replica's lag that /metrics shows.

The standby's replay is paused while a principal writes, so the standby keeps showing the
database as it was before the write: a read that sees the write was answered by the
primary, one that does not was answered by the standby. No timing is assumed anywhere;
whatever takes time is polled for with a generous deadline.
"""

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.access import Keys, as_key
from tests.replica.conftest import AppFactory
from tests.replica.postgres_cluster import Replication

DEADLINE_SECONDS = 30.0


@dataclass
class Written:
    experiment_id: str
    run_id: str


async def write_run(client: httpx.AsyncClient, key: str) -> Written:
    """An experiment, a run in it, and three points of `loss`: four writes."""
    headers = as_key(key)
    name = f"replica-{uuid.uuid4().hex[:8]}"
    experiment = await client.post(
        "/api/v1/experiments", json={"name": name, "owner": "owner"}, headers=headers
    )
    assert experiment.status_code == 201, experiment.text
    experiment_id = experiment.json()["id"]
    run = await client.post(f"/api/v1/experiments/{experiment_id}/runs", json={}, headers=headers)
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    points = [{"key": "loss", "value": 1.0 / (step + 1), "step": step} for step in range(3)]
    batch = await client.post(
        f"/api/v1/runs/{run_id}/batch", json={"metrics": points}, headers=headers
    )
    assert batch.status_code == 200, batch.text
    return Written(experiment_id, run_id)


@dataclass
class Seen:
    """What one principal's reads show of a written run."""

    experiment: int  # status of GET experiment
    searched: int  # runs found by a search of the experiment
    points: int  # points of the run's `loss` history (0 when the run is not found)

    @property
    def everything(self) -> bool:
        return self == Seen(200, 1, 3)

    @property
    def nothing(self) -> bool:
        return self == Seen(404, 0, 0)


async def seen(client: httpx.AsyncClient, key: str, written: Written) -> Seen:
    """Three kinds of read: a GET, a search (a POST that only reads), a metric history."""
    headers = as_key(key)
    experiment = await client.get(f"/api/v1/experiments/{written.experiment_id}", headers=headers)
    assert experiment.status_code in (200, 404), experiment.text
    search = await client.post(
        "/api/v1/runs/search", json={"experiment_ids": [written.experiment_id]}, headers=headers
    )
    assert search.status_code == 200, search.text
    history = await client.get(
        f"/api/v1/runs/{written.run_id}/metrics/history", params={"key": "loss"}, headers=headers
    )
    assert history.status_code in (200, 404), history.text
    points = len(history.json()["points"]) if history.status_code == 200 else 0
    return Seen(experiment.status_code, len(search.json()["runs"]), points)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_SECONDS}s: {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def replay_paused(replication: Replication) -> AsyncIterator[None]:
    """The standby as it is now, whatever the primary writes meanwhile."""
    await replication.wait_caught_up()
    await replication.pause_replay()
    try:
        yield
    finally:
        await replication.resume_replay()


class TestReadYourWrites:
    async def test_a_write_is_read_back_at_once_on_another_worker_through_redis(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with apps() as one, apps() as two, replay_paused(replication):
            written = await write_run(one.client, keys.owner)
            # The owner's next reads, on the other worker, come from the primary.
            assert (await seen(two.client, keys.owner, written)).everything
            # Anyone else reads the standby, which has not replayed the write yet.
            assert (await seen(one.client, keys.member, written)).nothing
            assert (await seen(two.client, keys.viewer, written)).nothing
        async with apps() as one:
            # Once the standby replays, the others see the run too.
            await eventually(
                lambda: _sees_everything(one.client, keys.member, written),
                "the member sees the run once the standby has replayed it",
            )

    async def test_without_redis_each_worker_keeps_its_own_windows(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with (
            apps(redis_url="") as one,
            apps(redis_url="") as two,
            replay_paused(replication),
        ):
            written = await write_run(one.client, keys.owner)
            assert (await seen(one.client, keys.owner, written)).everything
            # Another worker does not know of the write: it reads the standby.
            assert (await seen(two.client, keys.owner, written)).nothing
            assert (await seen(one.client, keys.member, written)).nothing

    async def test_after_the_window_the_writer_reads_the_replica_again(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with apps(database_read_your_writes_seconds=0.5) as one, replay_paused(replication):
            written = await write_run(one.client, keys.owner)
            # Its own write disappears from its reads once the window has passed: they are
            # answered by the standby, which is still paused before the write.
            await eventually(
                lambda: _sees_nothing(one.client, keys.owner, written),
                "the owner's reads go to the standby after its window",
            )

    async def test_a_failed_write_opens_no_window(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with apps() as one:
            written = await write_run(one.client, keys.owner)
            await replication.wait_caught_up()
            async with replay_paused(replication):
                # The viewer may not write: its refused write leaves its reads on the standby.
                refused = await one.client.post(
                    f"/api/v1/runs/{written.run_id}/batch",
                    json={"metrics": [{"key": "loss", "value": 0.1, "step": 9}]},
                    headers=as_key(keys.viewer),
                )
                assert refused.status_code == 403
                more = await write_run(one.client, keys.owner)
                assert (await seen(one.client, keys.viewer, more)).nothing


class TestReplicaDown:
    async def test_reads_are_answered_by_the_primary_and_ready_says_so(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with apps() as one:
            ready = (await one.client.get("/ready")).json()
            assert ready["status"] == "ready" and ready["replica"] == "ok"
            written = await write_run(one.client, keys.owner)
            replication.standby.stop()
            try:
                # The member has no window: its reads would go to the standby, which is down.
                assert (await seen(one.client, keys.member, written)).everything
                assert (await seen(one.client, keys.viewer, written)).everything
                ready = (await one.client.get("/ready")).json()
                assert ready["status"] == "degraded" and ready["replica"] == "unavailable"
                assert ready["database"] == "ok"
            finally:
                replication.standby.start()
            # Back up, the standby serves the reads again.
            async with replay_paused(replication):
                later = await write_run(one.client, keys.owner)
                await eventually(
                    lambda: _sees_nothing(one.client, keys.member, later),
                    "the member's reads go to the standby again once it is back",
                )
            assert (await one.client.get("/ready")).json()["replica"] == "ok"


async def _sees_everything(client: httpx.AsyncClient, key: str, written: Written) -> bool:
    return (await seen(client, key, written)).everything


async def _sees_nothing(client: httpx.AsyncClient, key: str, written: Written) -> bool:
    return (await seen(client, key, written)).nothing


async def replica_lag(client: httpx.AsyncClient) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return samples["mltrail_db_replica_lag_seconds"]


class TestReplicaLag:
    async def test_metrics_show_the_standby_falling_behind_and_catching_up(
        self, replication: Replication, keys: Keys, apps: AppFactory
    ) -> None:
        async with apps() as one:
            await replication.wait_caught_up()

            async def caught_up() -> bool:
                return await replica_lag(one.client) == 0

            await eventually(caught_up, "no lag once the standby has replayed everything")
            async with replay_paused(replication):
                await write_run(one.client, keys.owner)

                async def behind() -> bool:
                    return await replica_lag(one.client) > 0

                await eventually(behind, "a lag while the standby holds WAL it has not replayed")
            await eventually(caught_up, "no lag again once replay resumes")
            replication.standby.stop()
            try:
                assert math.isnan(await replica_lag(one.client))
            finally:
                replication.standby.start()
