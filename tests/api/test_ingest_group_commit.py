"""The ingest paths: one point per request through the group-commit writer, and batches, on
both wires, on SQLite and PostgreSQL. What is stored is read back from the database itself,
so an acknowledged point is known to be committed."""

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories.tracking import Point
from mltrail_server.db.tables import LatestMetric, Metric
from mltrail_server.services.point_writer import PointWriter
from tests.conftest import TEST_BUSY_TIMEOUT_SECONDS, Server
from tests.factories import create_experiment, create_run

ML = "/api/2.0/mlflow"
MISSING_RUN = "0" * 32


@pytest.fixture
async def database(server: Server) -> AsyncIterator[Database]:
    """A connection of our own to the server's database: what another reader sees."""
    settings = server.app.state.runtime.settings  # type: ignore[attr-defined]
    db = Database(
        settings.resolved_database_url, pooled=False, busy_timeout=TEST_BUSY_TIMEOUT_SECONDS
    )
    yield db
    await db.dispose()


async def new_run(client: httpx.AsyncClient) -> str:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    return str(run["id"])


async def stored(database: Database, run_id: str, key: str) -> list[tuple[int, int, float]]:
    """The run's points of `key` as (step, timestamp, value), in step order, NaN as NaN."""
    query = (
        select(Metric.step, Metric.timestamp, Metric.value, Metric.is_nan)
        .join(LatestMetric, LatestMetric.id == Metric.series_id)
        .where(LatestMetric.run_id == uuid.UUID(run_id), LatestMetric.key == key)
        .order_by(Metric.step, Metric.timestamp)
    )
    async with database.read_session() as session:
        rows = (await session.execute(query)).all()
    return [(step, stamp, math.nan if is_nan else value) for step, stamp, value, is_nan in rows]


def log_metric(api: str, run_id: str, point: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if api == "mlflow":
        return f"{ML}/runs/log-metric", {"run_id": run_id, **point}
    return f"/api/v1/runs/{run_id}/metrics", point


def same(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    """Equal, NaN equal to NaN."""
    return len(a) == len(b) and all(
        x[:2] == y[:2] and (x[2] == y[2] or (math.isnan(x[2]) and math.isnan(y[2])))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("api", ["mlflow", "v1"])
class TestOnePointPerRequest:
    async def test_concurrent_points_land_once_each_committed_before_its_answer(
        self, client: httpx.AsyncClient, database: Database, api: str
    ) -> None:
        runs = [await new_run(client) for _ in range(3)]
        requests = [
            (run_id, {"key": "loss", "value": step / 4, "step": step, "timestamp": 1000 + step})
            for step in range(12)
            for run_id in runs
        ]
        not_yet_visible: list[tuple[str, int]] = []

        async def send(run_id: str, point: dict[str, Any]) -> None:
            path, body = log_metric(api, run_id, point)
            response = await client.post(path, json=body)
            assert response.status_code == 200, response.text
            # Answered, so committed: another connection sees the point now.
            steps = [step for step, _, _ in await stored(database, run_id, "loss")]
            if point["step"] not in steps:
                not_yet_visible.append((run_id, point["step"]))

        await asyncio.gather(*(send(run_id, point) for run_id, point in requests))
        assert not_yet_visible == []
        for run_id in runs:
            expected = [(step, 1000 + step, step / 4) for step in range(12)]
            assert await stored(database, run_id, "loss") == expected
        # Sent again (as a client retrying would): nothing is stored twice.
        await asyncio.gather(*(send(run_id, point) for run_id, point in requests))
        for run_id in runs:
            assert len(await stored(database, run_id, "loss")) == 12

    async def test_values_steps_and_timestamps_exact(
        self, client: httpx.AsyncClient, database: Database, api: str
    ) -> None:
        run_id = await new_run(client)
        values: list[Any] = ["NaN", "Infinity", "-Infinity", 1e-300, -0.1, 2**53]
        big = 2**62
        for index, value in enumerate(values):
            point = {"key": "v", "value": value, "step": big + index, "timestamp": big - index}
            path, body = log_metric(api, run_id, point)
            response = await client.post(path, json=body)
            assert response.status_code == 200, response.text
        expected = [
            (big + i, big - i, v)
            for i, v in enumerate([math.nan, math.inf, -math.inf, 1e-300, -0.1, 2.0**53])
        ]
        assert same(await stored(database, run_id, "v"), expected)

    async def test_missing_run_is_a_404_and_others_in_flight_are_stored(
        self, client: httpx.AsyncClient, database: Database, api: str
    ) -> None:
        run_id = await new_run(client)
        missing = MISSING_RUN if api == "mlflow" else str(uuid.UUID(MISSING_RUN))
        point = {"key": "m", "value": 1.0, "step": 0, "timestamp": 1}
        requests = [
            log_metric(api, target, {**point, "step": step})
            for step, target in enumerate([run_id, missing, run_id, missing, run_id])
        ]
        answers = await asyncio.gather(*(client.post(p, json=body) for p, body in requests))
        assert [a.status_code for a in answers] == [200, 404, 200, 404, 200]
        assert [step for step, _, _ in await stored(database, run_id, "m")] == [0, 2, 4]


class TestGroupCommitWriter:
    """The writer itself: concurrent callers are written as one group, and a group that
    fails is retried point by point, so each caller gets its own answer."""

    async def test_concurrent_callers_are_one_group(
        self, client: httpx.AsyncClient, database: Database
    ) -> None:
        runs = [uuid.UUID(await new_run(client)) for _ in range(2)]
        writer = PointWriter(database)
        results = await asyncio.gather(
            *(writer.add(runs[i % 2], [Point("k", float(i), i, 1)]) for i in range(10))
        )
        assert results == [True] * 10
        # All ten were queued before the first write began (asyncio runs tasks in order).
        assert (writer.groups, writer.requests) == (1, 10)
        assert [s for s, _, _ in await stored(database, runs[0].hex, "k")] == [0, 2, 4, 6, 8]
        assert [s for s, _, _ in await stored(database, runs[1].hex, "k")] == [1, 3, 5, 7, 9]

    async def test_a_failing_point_fails_alone(
        self, client: httpx.AsyncClient, database: Database
    ) -> None:
        run_id = uuid.UUID(await new_run(client))
        writer = PointWriter(database)
        too_big = 2**63  # no database stores this step
        results = await asyncio.gather(
            writer.add(run_id, [Point("k", 1.0, 1, 1)]),
            writer.add(run_id, [Point("k", 2.0, too_big, 1)]),
            writer.add(run_id, [Point("k", 3.0, 3, 1)]),
            writer.add(uuid.uuid4(), [Point("k", 4.0, 4, 1)]),
            return_exceptions=True,
        )
        assert results[0] is True and results[2] is True
        assert isinstance(results[1], Exception)
        assert results[3] is False  # no such run: nothing stored for it
        assert await stored(database, run_id.hex, "k") == [(1, 1, 1.0), (3, 1, 3.0)]

    async def test_a_database_that_fails_fails_everyone_at_once(self) -> None:
        # Nothing listens on port 1: every caller gets the connection error of the one
        # attempt, none waits for a retry of each point.
        unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none", pooled=False)
        writer = PointWriter(unreachable)
        try:
            results = await asyncio.gather(
                *(writer.add(uuid.uuid4(), [Point("k", 1.0, i, 1)]) for i in range(3)),
                return_exceptions=True,
            )
        finally:
            await unreachable.dispose()
        assert all(isinstance(result, OSError) for result in results), results
        assert (writer.groups, writer.requests) == (1, 3)


@pytest.mark.parametrize("api", ["mlflow", "v1"])
class TestBatch:
    async def test_a_batch_failing_validation_writes_nothing(
        self, client: httpx.AsyncClient, database: Database, api: str
    ) -> None:
        run_id = await new_run(client)
        metrics: list[dict[str, Any]] = [
            {"key": "m", "value": i, "step": i, "timestamp": 5} for i in range(999)
        ]
        metrics.insert(500, {"key": "m", "value": "not a number", "step": 1000, "timestamp": 5})
        path = f"{ML}/runs/log-batch" if api == "mlflow" else f"/api/v1/runs/{run_id}/batch"
        body = {"run_id": run_id, "metrics": metrics} if api == "mlflow" else {"metrics": metrics}
        response = await client.post(path, json=body)
        assert response.status_code in (400, 422), response.text
        assert "value" in response.text
        assert await stored(database, run_id, "m") == []

    async def test_duplicates_ignored_values_exact(
        self, client: httpx.AsyncClient, database: Database, api: str
    ) -> None:
        run_id = await new_run(client)
        values: list[Any] = ["NaN", "Infinity", "-Infinity", 0.25, -3.5]
        metrics = [
            {"key": "m", "value": value, "step": 2**40 + i, "timestamp": 7 + i}
            for i, value in enumerate(values)
        ]
        path = f"{ML}/runs/log-batch" if api == "mlflow" else f"/api/v1/runs/{run_id}/batch"
        for _ in range(2):  # the second time, a re-sent batch: nothing new
            body: dict[str, Any] = {"metrics": metrics + metrics[:2]}
            if api == "mlflow":
                body["run_id"] = run_id
            response = await client.post(path, json=body)
            assert response.status_code == 200, response.text
        expected = [
            (2**40 + i, 7 + i, v) for i, v in enumerate([math.nan, math.inf, -math.inf, 0.25, -3.5])
        ]
        assert same(await stored(database, run_id, "m"), expected)
