"""The primary PostgreSQL dies under write load: pg_auto_failover promotes the synchronous
secondary, and the server, given both nodes in DATABASE_URL (`target_session_attrs=
read-write`), goes on writing to the new primary by itself, without a restart. During the
switch a write is answered 503 with `Retry-After`, never anything else, and no write that
was answered 200 is lost. Nothing is timed: each phase waits for progress, bounded."""

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.failover.formation import Formation
from tests.polling import DEADLINE_SECONDS, wait_for
from tests.sdk.live_server import LiveServer

PROGRESS = 20
MOST_POINTS = 5000


@dataclass
class Writer:
    url: str
    run_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: list[int] = field(default_factory=list)
    refusals: int = 0  # 503s, each with Retry-After
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(60)) as client:
            step = 0
            while not self.stop.is_set() and step < MOST_POINTS:
                body = {"key": "loss", "value": 1.0 / (step + 1), "step": step}
                try:
                    response = client.post(f"/api/v1/runs/{self.run_id}/metrics", json=body)
                except httpx.TransportError as exc:
                    self.errors.append(f"step {step}: {exc!r}")
                    return
                if response.status_code == 503:
                    if "retry-after" not in response.headers:
                        self.errors.append(f"step {step}: a 503 without Retry-After")
                        return
                    self.refusals += 1
                    time.sleep(min(float(response.headers["retry-after"]), 0.5))
                    continue  # the same point again
                if response.status_code != 200:
                    self.errors.append(f"step {step}: {response.status_code} {response.text}")
                    return
                self.acknowledged.append(step)
                step += 1


async def _create_database(address: str, name: str) -> None:
    connection = await asyncpg.connect(f"postgresql://postgres@{address}/postgres", timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _in_recovery(address: str) -> bool:
    connection = await asyncpg.connect(f"postgresql://postgres@{address}/postgres", timeout=10)
    try:
        return bool(await connection.fetchval("SELECT pg_is_in_recovery()"))
    finally:
        await connection.close()


async def _stored_steps(address: str, database: str, run_id: str) -> list[int]:
    connection = await asyncpg.connect(f"postgresql://postgres@{address}/{database}", timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT m.step FROM metric m JOIN latest_metric s ON s.id = m.series_id"
            " WHERE s.run_id = $1 AND s.key = 'loss'",
            uuid.UUID(run_id),
        )
    finally:
        await connection.close()
    return sorted(row["step"] for row in rows)


def test_the_server_follows_a_failover_and_loses_no_acknowledged_write(
    formation: Formation, tmp_path: Path
) -> None:
    primary, secondary = formation.nodes
    asyncio.run(_create_database(primary.address, "mltrail"))
    server = LiveServer(
        tmp_path,
        {
            "DATABASE_URL": formation.database_url("mltrail"),
            "MIGRATE_ON_START": "true",
            # A statement waiting on a primary that died gives up soon: a 503, retried.
            "DATABASE_STATEMENT_TIMEOUT_SECONDS": "5",
        },
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            created = api.post("/api/v1/experiments", json={"name": "failover", "owner": "ops"})
            assert created.status_code == 201, created.text
            experiment = created.json()
            run = api.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}).json()
        writer = Writer(server.url, run["id"])
        thread = threading.Thread(target=writer.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(writer.acknowledged) >= PROGRESS, "writes before the failure")
            formation.kill(primary)
            mark = len(writer.acknowledged)
            wait_for(
                lambda: len(writer.acknowledged) >= mark + PROGRESS or writer.errors,
                "writes on the new primary",
            )
        finally:
            writer.stop.set()
            thread.join(timeout=DEADLINE_SECONDS)
        assert not writer.errors, writer.errors
        assert server.running, "the server restarted"
        assert asyncio.run(_in_recovery(secondary.address)) is False, "no promotion"
        stored = asyncio.run(_stored_steps(secondary.address, "mltrail", run["id"]))
        missing = sorted(set(writer.acknowledged) - set(stored))
        assert not missing, f"acknowledged but lost: {missing}"
        with httpx.Client(base_url=server.url, timeout=60) as api:
            history = api.get(
                f"/api/v1/runs/{run['id']}/metrics/history", params={"key": "loss"}
            ).json()
        assert {point["step"] for point in history["points"]} >= set(writer.acknowledged)
    finally:
        server.stop()
