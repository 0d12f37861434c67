"""The benchmark's floor: a bare FastAPI app that only inserts what it is sent.

No validation, no auth, no series rows, no index: a batch is one binary COPY (asyncpg's
`copy_records_to_table`) or one executemany (aiosqlite), a single point one INSERT, each
committed. It speaks the few requests of the load loops, on MLflow's API and on /api/v1, so
either lane's requests can be sent to it. Whatever ours does beyond this is what our figure
divided by the floor's costs: the floor is what this machine, this client and this database
allow.

    FLOOR_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db uvicorn _floor:app --app-dir bench
    FLOOR_DATABASE_URL=sqlite:///path/floor.db ...
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

URL = os.environ.get("FLOOR_DATABASE_URL", "")
TABLE = "floor_metric"
COLUMNS = ("run_id", "key", "step", "timestamp", "value")
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(run_id text, key text, step bigint, timestamp bigint, value double precision)"
)
EMPTY = Response(b"{}", media_type="application/json")


class Store:
    """The points table on PostgreSQL (asyncpg pool) or SQLite (one aiosqlite connection)."""

    async def open(self) -> None:
        if URL.startswith("sqlite"):
            import aiosqlite

            self.sqlite = await aiosqlite.connect(URL.split(":///", 1)[1], isolation_level=None)
            await self.sqlite.execute("PRAGMA journal_mode=WAL")
            await self.sqlite.execute("PRAGMA busy_timeout=60000")
            await self.sqlite.execute(CREATE)
            self.pool = None
        else:
            import asyncpg

            self.pool = await asyncpg.create_pool(URL, min_size=2, max_size=10)
            async with self.pool.acquire() as connection, connection.transaction():
                # Every worker starts at once, and CREATE ... IF NOT EXISTS is not safe
                # against a concurrent one.
                await connection.execute("SELECT pg_advisory_xact_lock(7274)")
                await connection.execute(CREATE)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        else:
            await self.sqlite.close()

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.pool is not None:
            async with self.pool.acquire() as connection:
                if len(rows) == 1:
                    await connection.execute(
                        f"INSERT INTO {TABLE} VALUES ($1, $2, $3, $4, $5)", *rows[0]
                    )
                else:
                    await connection.copy_records_to_table(TABLE, records=rows, columns=COLUMNS)
            return
        await self.sqlite.execute("BEGIN IMMEDIATE")
        await self.sqlite.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)", rows)
        await self.sqlite.execute("COMMIT")


store = Store()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await store.open()
    yield
    await store.close()


app = FastAPI(lifespan=lifespan)


def _rows(run_id: str, metrics: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (run_id, m["key"], int(m.get("step", 0)), int(m["timestamp"]), float(m["value"]))
        for m in metrics
    ]


def _json(data: dict[str, Any]) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


@app.get("/health")
async def health() -> Response:
    return _json({"status": "ok"})


@app.post("/api/2.0/mlflow/experiments/create")
async def mlflow_experiment() -> Response:
    return _json({"experiment_id": "1"})


@app.post("/api/2.0/mlflow/runs/create")
async def mlflow_run() -> Response:
    return _json({"run": {"info": {"run_id": uuid.uuid4().hex}}})


@app.post("/api/2.0/mlflow/runs/log-batch")
async def mlflow_batch(request: Request) -> Response:
    body = orjson.loads(await request.body())
    await store.insert(_rows(body["run_id"], body.get("metrics", [])))
    return EMPTY


@app.post("/api/2.0/mlflow/runs/log-metric")
async def mlflow_metric(request: Request) -> Response:
    body = orjson.loads(await request.body())
    await store.insert(_rows(body["run_id"], [body]))
    return EMPTY


@app.post("/api/v1/experiments")
async def v1_experiment() -> Response:
    return _json({"id": str(uuid.uuid4())})


@app.post("/api/v1/experiments/{experiment_id}/runs")
async def v1_run(experiment_id: str) -> Response:
    return _json({"id": str(uuid.uuid4())})


@app.post("/api/v1/runs/{run_id}/batch")
async def v1_batch(run_id: str, request: Request) -> Response:
    body = orjson.loads(await request.body())
    await store.insert(_rows(run_id, body.get("metrics", [])))
    return EMPTY


@app.post("/api/v1/runs/{run_id}/metrics")
async def v1_metric(run_id: str, request: Request) -> Response:
    await store.insert(_rows(run_id, [orjson.loads(await request.body())]))
    return EMPTY
