"""`mltrail gc` against a live server: `--dry-run` lists and keeps, `--older-than` is
respected, `--run-ids` purges only those, a run never given by id is purged too (MLflow's
gc skips those), and a bad age is refused naming the option."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from mltrail.cli import app
from mltrail.cli.gc import parse_age
from mltrail_server.db.tables import Run
from mltrail_server.db.types import utcnow
from tests.conftest import side_database
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _deleted_runs(server: LiveServer, count: int) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        body = {"name": f"gc-{uuid.uuid4().hex[:8]}", "owner": "alice"}
        experiment = http.post("/api/v1/experiments", json=body).json()["id"]
        runs = []
        for _ in range(count):
            run = http.post(f"/api/v1/experiments/{experiment}/runs", json={}).json()["id"]
            assert http.delete(f"/api/v1/runs/{run}").status_code == 204
            runs.append(run)
    return runs


def _backdate(server: LiveServer, run_ids: list[str], days: float) -> None:
    async def write() -> None:
        database = side_database(f"sqlite+aiosqlite:///{server.database}")
        ids = [uuid.UUID(r) for r in run_ids]
        when = utcnow() - timedelta(days=days)
        async with database.session() as session:
            await session.execute(update(Run).where(Run.id.in_(ids)).values(deleted_at=when))
            await session.commit()
        await database.dispose()

    asyncio.run(write())


def _lifecycle(server: LiveServer, run_id: str) -> str | None:
    got = httpx.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=10)
    if got.status_code == 404:
        return None
    stage: str = got.json()["run"]["info"]["lifecycle_stage"]
    return stage


def _gc(server: LiveServer, *arguments: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--url", server.url, "--retry-for", "0", "gc", *arguments])
    return result.exit_code, result.output


def test_dry_run_older_than_and_run_ids(live: LiveServer) -> None:
    old, named, recent = _deleted_runs(live, 3)
    _backdate(live, [old, named], 30)

    code, output = _gc(live, "--dry-run", "--older-than", "7d")
    assert code == 0, output
    assert old in output and named in output and recent not in output
    assert "Would purge 2" in output
    assert {_lifecycle(live, r) for r in (old, named, recent)} == {"deleted"}

    code, output = _gc(live, "--run-ids", named, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert [item["id"] for item in report["purged"]] == [named]
    assert _lifecycle(live, named) is None and _lifecycle(live, old) == "deleted"

    # No ids: every deleted run past the age goes (MLflow's gc would need --run-ids).
    code, output = _gc(live, "--older-than", "7d")
    assert code == 0, output
    assert "Purged 1" in output and old in output
    assert _lifecycle(live, old) is None and _lifecycle(live, recent) == "deleted"


def test_a_bad_age_or_id_is_refused(live: LiveServer) -> None:
    code, output = _gc(live, "--older-than", "a week")
    assert code == 2 and "--older-than" in output
    code, output = _gc(live, "--run-ids", str(uuid.uuid4()))
    assert code == 1 and "run_ids" in output


def test_parse_age() -> None:
    assert parse_age("1d2h30m") == 86400 + 7200 + 1800
    assert parse_age("90s") == 90
    assert parse_age("1.5h") == 5400
    with pytest.raises(typer.BadParameter, match="give an age"):
        parse_age("30")
