"""SQLite's write lock held past the busy timeout: no `database is locked` reaches a client.

Another connection holds the write lock (`BEGIN IMMEDIATE`, as a second process's long write
would) while the server runs with a short DATABASE_BUSY_TIMEOUT_SECONDS. A write then waits
that long and is refused with a 503 and `Retry-After`, in the v1 API and the MLflow wire API
(TEMPORARILY_UNAVAILABLE, which the mlflow client retries), with nothing of it stored; once
the lock is released the same request succeeds.
"""

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mltrail_server.config import Settings
from mltrail_server.main import create_app

BUSY_TIMEOUT_SECONDS = 0.2
POINTS = [{"key": "loss", "step": step, "value": step / 10} for step in range(100)]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 't.db'}",
        data_dir=tmp_path,
        database_busy_timeout_seconds=BUSY_TIMEOUT_SECONDS,
        auth_enabled=False,
        redis_url="",
        log_level="WARNING",
    )
    app = create_app(settings)
    await app.state.runtime.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await app.state.runtime.stop()


def assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "locked" not in response.text  # the driver's words stay in the server's log


class TestAWriteThatWaitsOutTheBusyTimeout:
    async def test_v1_answers_503_stores_nothing_and_the_retry_succeeds(
        self, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        experiment = await client.post("/api/v1/experiments", json={"name": "e", "owner": "o"})
        run = await client.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={})
        batch = f"/api/v1/runs/{run.json()['id']}/batch"
        history = f"/api/v1/runs/{run.json()['id']}/metrics/history?key=loss"

        lock = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
        lock.execute("BEGIN IMMEDIATE")
        try:
            refused = await client.post(batch, json={"metrics": POINTS})
            assert_busy(refused)
            assert "DATABASE_BUSY_TIMEOUT_SECONDS" in refused.json()["detail"]
            created = await client.post("/api/v1/experiments", json={"name": "f", "owner": "o"})
            assert_busy(created)
            # Reads take no write lock: they still answer while the lock is held.
            assert (await client.get(history)).json()["points"] == []
        finally:
            lock.execute("COMMIT")
            lock.close()

        names = [e["name"] for e in (await client.get("/api/v1/experiments")).json()["items"]]
        assert names == ["e"], "a refused write left something behind"
        assert (await client.post(batch, json={"metrics": POINTS})).status_code == 200
        assert len((await client.get(history)).json()["points"]) == len(POINTS)
        created = await client.post("/api/v1/experiments", json={"name": "f", "owner": "o"})
        assert created.status_code == 201

    async def test_mlflow_answers_temporarily_unavailable_and_the_retry_succeeds(
        self, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        create = "/api/2.0/mlflow/experiments/create"
        lock = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
        lock.execute("BEGIN IMMEDIATE")
        try:
            refused = await client.post(create, json={"name": "m"})
            assert_busy(refused)
            assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        finally:
            lock.execute("COMMIT")
            lock.close()
        found = await client.get(
            "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "m"}
        )
        assert found.status_code == 404, "a refused create left an experiment behind"
        created = await client.post(create, json={"name": "m"})
        assert created.status_code == 200, created.text
        found = await client.get(
            "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "m"}
        )
        assert found.json()["experiment"]["experiment_id"] == created.json()["experiment_id"]
