"""Several workers on the default SQLite database, started the way the README (and the seed)
starts them: `uvicorn app.main:app --workers 4`, and gunicorn with the uvicorn worker. All
four serve, none dies, the schema is made once, concurrent writes from several clients all
succeed and are all there, and a write through one worker is read through every other."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from mltrail_server.db.migrate import alembic_config
from tests.sdk.live_server import ROOT, free_port, wait_until_healthy

WORKERS = 4
CLIENTS = 6
RUNS_PER_CLIENT = 6
POINTS_PER_BATCH = 50
# Bounded polling: rounds of concurrent /health requests until every worker has answered.
HEALTH_ROUNDS = 100
HEALTH_BURST = 16

REVISIONS = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
COMMANDS = {
    "uvicorn": ["-m", "uvicorn", "app.main:app", "--workers", str(WORKERS)],
    "gunicorn": ["-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", str(WORKERS)],
}


def address_options(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":
        return ["--bind", f"127.0.0.1:{port}", "app.main:app"]
    return ["--host", "127.0.0.1", "--port", str(port)]


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log


@pytest.fixture(scope="class", params=sorted(COMMANDS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The seed's command on a free port, with a fresh DATA_DIR and no DATABASE_URL (the
    default SQLite file), no Redis, settings as a user would leave them. One server for the
    tests of a class, which use experiments of their own."""
    kind: str = request.param
    tmp_path = tmp_path_factory.mktemp(f"workers-{kind}")
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "", "LOG_LEVEL": "INFO"}
    for name in ("DATABASE_URL", "AUTH_ENABLED", "CACHE_ENABLED", "MIGRATE_ON_START"):
        env.pop(name, None)
    log = tmp_path / "server.log"
    command = [sys.executable, *COMMANDS[kind], *address_options(kind, port)]
    with log.open("ab") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, log)
        yield Server(process, url, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[1])


async def worker_pids(url: str) -> set[int]:
    """The pids /health reports, over fresh connections, until all workers have answered
    (or the rounds run out)."""
    seen: set[int] = set()

    async def one() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await client.get("/health")
            assert response.status_code == 200, response.text
            pid: int = response.json()["worker_pid"]
            return pid

    for _ in range(HEALTH_ROUNDS):
        seen.update(await asyncio.gather(*(one() for _ in range(HEALTH_BURST))))
        if len(seen) >= WORKERS:
            break
    return seen


async def write_as_one_client(url: str, number: int) -> list[httpx.Response]:
    """One experiment, its runs, and a batch of points per run: every answer."""
    answers = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        experiment = await client.post(
            "/api/v1/experiments", json={"name": f"client-{number}", "owner": "w"}
        )
        answers.append(experiment)
        if experiment.status_code != 201:
            return answers
        runs = f"/api/v1/experiments/{experiment.json()['id']}/runs"
        for index in range(RUNS_PER_CLIENT):
            run = await client.post(runs, json={"name": f"run-{index}"})
            answers.append(run)
            if run.status_code != 201:
                continue
            points = [
                {"key": "loss", "step": step, "value": number + step / 100}
                for step in range(POINTS_PER_BATCH)
            ]
            batch = await client.post(
                f"/api/v1/runs/{run.json()['id']}/batch", json={"metrics": points}
            )
            answers.append(batch)
    return answers


async def read_fresh(url: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.get(path)


class TestFourWorkersOnTheDefaultSqlite:
    async def test_every_worker_serves_and_every_write_is_stored(self, server: Server) -> None:
        pids = await worker_pids(server.url)
        assert len(pids) == WORKERS, f"workers that answered: {pids}\n{server.log.read_text()}"
        assert all(parent_of(pid) == server.process.pid for pid in pids), "not its workers"

        answers = [
            answer
            for client_answers in await asyncio.gather(
                *(write_as_one_client(server.url, number) for number in range(CLIENTS))
            )
            for answer in client_answers
        ]
        failed = [(a.request.url.path, a.status_code, a.text[:200]) for a in answers if a.is_error]
        assert not failed, failed
        assert len(answers) == CLIENTS * (1 + 2 * RUNS_PER_CLIENT)

        listing = await read_fresh(server.url, "/api/v1/experiments?per_page=100")
        experiments = {e["name"]: e["id"] for e in listing.json()["items"]}
        assert set(experiments) == {f"client-{n}" for n in range(CLIENTS)}
        for experiment_id in experiments.values():
            runs_path = f"/api/v1/experiments/{experiment_id}/runs"
            runs = (await read_fresh(server.url, runs_path)).json()
            assert runs["total"] == RUNS_PER_CLIENT
            for run in runs["items"]:
                history = await read_fresh(
                    server.url, f"/api/v1/runs/{run['id']}/metrics/history?key=loss"
                )
                assert len(history.json()["points"]) == POINTS_PER_BATCH

        # The same workers are still there: none died (and was replaced) under the load.
        assert await worker_pids(server.url) == pids
        log = server.log.read_text()
        assert "database is locked" not in log and "Traceback" not in log, log[-3000:]
        applied = [
            line.partition("migration applied:")[2]
            for line in log.splitlines()
            if "migration applied:" in line
        ]
        assert len(applied) == len(set(applied)) == len(REVISIONS), applied  # migrated once

    async def test_a_write_through_one_worker_is_read_through_every_other(
        self, server: Server
    ) -> None:
        """No worker keeps an in-memory copy another's write leaves stale: without Redis the
        read cache is off in each worker, and says so in the log."""
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            body = {"name": "shared", "owner": "w"}
            created = await client.post("/api/v1/experiments", json=body)
            path = f"/api/v1/experiments/{created.json()['id']}"
            # Reads spread over the workers: each could cache the old description.
            before = await asyncio.gather(
                *(read_fresh(server.url, path) for _ in range(4 * HEALTH_BURST))
            )
            assert all(r.json()["description"] is None for r in before)
            changed = await client.patch(path, json={"description": "changed"})
            assert changed.status_code == 200, changed.text
        after = await asyncio.gather(*(read_fresh(server.url, path) for _ in range(4 * WORKERS)))
        assert [r.json()["description"] for r in after] == ["changed"] * (4 * WORKERS)
        assert "the read cache is off" in server.log.read_text()
