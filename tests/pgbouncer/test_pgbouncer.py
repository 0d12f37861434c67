"""The server behind a real PgBouncer in transaction mode (DATABASE_PGBOUNCER=true): the main
flows of both APIs, many requests at once over two server connections, so that consecutive
transactions of one client connection run on different server connections.

The schema is migrated directly on PostgreSQL, as the README says to (`mltrail db upgrade`
against PostgreSQL itself): a session-level advisory lock means nothing through a pooler
that hands each transaction to any server connection.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from mltrail_server.db.engine import Database
from tests.conftest import RUN_ID, _create_postgres_database, _drop_postgres_database
from tests.mlflow.conftest import CLEARED, CLIENT_ENVIRONMENT
from tests.pgbouncer.pgbouncer_process import PgBouncer, start_pgbouncer
from tests.sdk.live_server import free_port, spawn_uvicorn, stop_process, wait_until_healthy
from tests.services_available import POSTGRES_URL, REDIS_URL, require_postgres, require_redis

POOL_SIZE = 2
THREADS = 8
RUNS = 6
BATCHES_PER_RUN = 5
POINTS_PER_BATCH = 200


@dataclass
class Stack:
    bouncer: PgBouncer
    url: str

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def _migrate(url: str) -> None:
    async def migrate() -> None:
        database = Database(url.replace("postgresql://", "postgresql+asyncpg://"), pooled=False)
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(migrate())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A fresh database, a pgbouncer before it, and a live server on the pgbouncer."""
    require_postgres()
    require_redis()
    name = f"mltrail_pgbouncer_{RUN_ID}"
    _migrate(_create_postgres_database(name))
    bouncer = start_pgbouncer(POSTGRES_URL, name, POOL_SIZE)
    directory = tmp_path_factory.mktemp("pgbouncer-server")
    log = directory / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": bouncer.url,
        "DATABASE_PGBOUNCER": "true",
        "MIGRATE_ON_START": "false",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"mltrail-pgbouncer-test-{RUN_ID}:",
        "DATA_DIR": str(directory),
        "HOST": "127.0.0.1",
        "AUTH_ENABLED": "false",
        "RATE_LIMIT_PER_SECOND": "0",
        "LOG_LEVEL": "WARNING",
    }
    process = spawn_uvicorn(port, env, log)
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log)
        yield Stack(bouncer, f"http://127.0.0.1:{port}")
    finally:
        stop_process(process)
        server_log = log.read_text()
        bouncer.stop()
        _drop_postgres_database(name)
    # No request failed on the server's side (a 500 is logged with its traceback).
    assert "Traceback" not in server_log and '"ERROR"' not in server_log, server_log[-3000:]


def _ok(response: httpx.Response, status: int = 200) -> dict[str, object]:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    body: dict[str, object] = response.json()
    return body


def _shares_server_connections(bouncer: PgBouncer) -> None:
    """More client connections than server connections, and never more servers than the
    pool holds: consecutive transactions of a client ran on whichever server was free."""
    clients = [row for row in bouncer.admin("SHOW CLIENTS") if row["database"] == bouncer.database]
    servers = [row for row in bouncer.admin("SHOW SERVERS") if row["database"] == bouncer.database]
    assert 1 <= len(servers) <= POOL_SIZE
    assert len(clients) > len(servers)


class TestV1:
    def test_create_ingest_search_and_history_many_at_once(self, stack: Stack) -> None:
        with stack.http() as http:
            experiment = _ok(
                http.post(
                    "/api/v1/experiments",
                    json={"name": f"bouncer-{uuid.uuid4().hex[:8]}", "owner": "ci"},
                ),
                201,
            )
            experiment_id = str(experiment["id"])

            def create_run(index: int) -> str:
                with stack.http() as own:
                    run = own.post(
                        f"/api/v1/experiments/{experiment_id}/runs", json={"name": f"r{index}"}
                    )
                    return str(_ok(run, 201)["id"])

            def ingest(run_id: str, batch: int) -> None:
                points = [
                    {"key": "loss", "value": 1.0 / (step + 1), "step": step}
                    for step in range(batch * POINTS_PER_BATCH, (batch + 1) * POINTS_PER_BATCH)
                ]
                body: dict[str, object] = {"metrics": points}
                if batch == 0:
                    body["params"] = {"lr": "0.01"}
                    body["tags"] = {"team": "ci"}
                with stack.http() as own:
                    result = _ok(own.post(f"/api/v1/runs/{run_id}/batch", json=body))
                    assert result["metrics"] == POINTS_PER_BATCH
                    # A read between the writes, on whichever server connection is free.
                    _ok(own.get(f"/api/v1/runs/{run_id}"))

            with ThreadPoolExecutor(THREADS) as pool:
                run_ids = list(pool.map(create_run, range(RUNS)))
                jobs = [(run, batch) for batch in range(BATCHES_PER_RUN) for run in run_ids]
                list(pool.map(lambda job: ingest(*job), jobs))

            def history(run_id: str) -> list[int]:
                with stack.http() as own:
                    page = _ok(
                        own.get(
                            f"/api/v1/runs/{run_id}/metrics/history",
                            params={"key": "loss", "limit": 25_000},
                        )
                    )
                    points = page["points"]
                    assert isinstance(points, list)
                    return [point["step"] for point in points]

            def search(_: int) -> int:
                with stack.http() as own:
                    found = _ok(
                        own.post(
                            "/api/v1/runs/search",
                            json={
                                "experiment_ids": [experiment_id],
                                "filter": "params.lr = '0.01' AND tags.team = 'ci' "
                                "AND metrics.loss < 0.01",
                                "order_by": ["metrics.loss ASC"],
                            },
                        )
                    )
                    runs = found["runs"]
                    assert isinstance(runs, list)
                    return len(runs)

            with ThreadPoolExecutor(THREADS) as pool:
                histories = list(pool.map(history, run_ids))
                searches = list(pool.map(search, range(THREADS)))
            total = BATCHES_PER_RUN * POINTS_PER_BATCH
            assert histories == [list(range(total))] * RUNS
            assert searches == [RUNS] * THREADS
        _shares_server_connections(stack.bouncer)


class TestMlflow:
    def test_log_batch_many_at_once_over_the_wire(self, stack: Stack) -> None:
        with stack.http() as http:
            created = _ok(
                http.post(
                    "/api/2.0/mlflow/experiments/create",
                    json={"name": f"bouncer wire {uuid.uuid4().hex[:8]}"},
                )
            )
            experiment_id = created["experiment_id"]
            now = int(time.time() * 1000)

            def create_run(_: int) -> str:
                with stack.http() as own:
                    run = _ok(
                        own.post(
                            "/api/2.0/mlflow/runs/create",
                            json={"experiment_id": experiment_id, "start_time": now},
                        )
                    )
                    info = run["run"]["info"]  # type: ignore[index]
                    return str(info["run_id"])

            def log_batch(job: tuple[str, int]) -> None:
                run_id, batch = job
                metrics = [
                    {"key": "acc", "value": step / 1000, "timestamp": now + step, "step": step}
                    for step in range(batch * POINTS_PER_BATCH, (batch + 1) * POINTS_PER_BATCH)
                ]
                with stack.http() as own:
                    _ok(
                        own.post(
                            "/api/2.0/mlflow/runs/log-batch",
                            json={"run_id": run_id, "metrics": metrics},
                        )
                    )

            with ThreadPoolExecutor(THREADS) as pool:
                run_ids = list(pool.map(create_run, range(RUNS)))
                jobs = [(run, batch) for batch in range(BATCHES_PER_RUN) for run in run_ids]
                list(pool.map(log_batch, jobs))

            for run_id in run_ids:
                history = _ok(
                    http.get(
                        "/api/2.0/mlflow/metrics/get-history",
                        params={"run_id": run_id, "metric_key": "acc", "max_results": 25_000},
                    )
                )
                metrics = history["metrics"]
                assert isinstance(metrics, list)
                assert len(metrics) == BATCHES_PER_RUN * POINTS_PER_BATCH
        _shares_server_connections(stack.bouncer)

    def test_the_mlflow_client_works_through_pgbouncer(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        for name in CLEARED:
            monkeypatch.delenv(name, raising=False)
        for name, value in CLIENT_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        client = MlflowClient(stack.url)
        experiment_id = client.create_experiment(f"bouncer client {uuid.uuid4().hex[:8]}")
        run = client.create_run(experiment_id, run_name="smoke")
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (step + 1), now + step, step) for step in range(100)],
            params=[Param("lr", "0.01")],
            tags=[RunTag("team", "ci")],
        )
        client.log_metric(run_id, "loss", 0.001, step=100)
        client.set_terminated(run_id)

        found = client.search_runs([experiment_id], "metrics.loss < 0.01 AND params.lr = '0.01'")
        assert [r.info.run_id for r in found] == [run_id]
        history = client.get_metric_history(run_id, "loss")
        assert [point.step for point in history] == list(range(101))
        stored = client.get_run(run_id)
        assert stored.info.status == RunStatus.to_string(RunStatus.FINISHED)
        assert stored.data.params == {"lr": "0.01"} and stored.data.tags["team"] == "ci"
        assert stored.info.run_name == "smoke"
