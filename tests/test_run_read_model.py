"""One run read model for both APIs: an MLflow search reads each run's row once, as v1's
does, and both APIs show the same runs with the same values."""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from tests.background_tasks import in_background_task
from tests.conftest import Server

API = "/api/2.0/mlflow"
READS_RUN_TABLE = re.compile(r"\bFROM run\b(?!_)")


@contextmanager
def statements(database: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The request's reads only: the server's background tasks (the audit log's writer,
        # the artifact purge queue's drainer) may run meanwhile, the more so on a busy machine.
        if in_background_task():
            return
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)


async def filled_experiment(server: Server) -> str:
    created = await server.client.post(
        f"{API}/experiments/create", json={"name": f"read-{uuid.uuid4().hex[:8]}"}
    )
    experiment_id: str = created.json()["experiment_id"]
    for index in range(3):
        run = await server.client.post(
            f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": f"r{index}"}
        )
        run_id = run.json()["run"]["info"]["run_id"]
        logged = await server.client.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [{"key": "acc", "value": index / 10, "timestamp": 1, "step": 0}],
                "params": [{"key": "lr", "value": str(index)}],
                "tags": [{"key": "team", "value": "nlp"}],
            },
        )
        assert logged.status_code == 200, logged.text
    return experiment_id


class TestOneReadModel:
    async def test_the_servers_background_reads_are_not_counted(self, server: Server) -> None:
        """What the counts below rest on: the purge queue's drainer, woken while a count is
        under way, is not counted (it was, on a busy machine: 9 statements for 6)."""
        runtime = server.app.state.runtime  # type: ignore[attr-defined]
        database, _ = await runtime.resources()
        everything: list[str] = []

        def all_statements(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            everything.append(statement)

        event.listen(database.engine.sync_engine, "before_cursor_execute", all_statements)
        try:
            with statements(database) as counted:
                runtime.purge_drainer.start()
                deadline = time.monotonic() + 30
                while not any("artifact_purge" in sql for sql in everything):
                    assert time.monotonic() < deadline, "the drainer did not look at its queue"
                    await asyncio.sleep(0.01)
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", all_statements)
        assert not any("artifact_purge" in sql for sql in counted)

    async def test_an_mlflow_search_reads_the_runs_once(self, server: Server) -> None:
        database, _ = await server.app.state.runtime.resources()  # type: ignore[attr-defined]
        experiment_id = await filled_experiment(server)
        v1_id = str(uuid.UUID(experiment_id))
        with statements(database) as mlflow_sql:
            mlflow = await server.client.post(
                f"{API}/runs/search",
                json={"experiment_ids": [experiment_id], "filter": "metrics.acc >= 0.1"},
            )
        with statements(database) as v1_sql:
            v1 = await server.client.post(
                "/api/v1/runs/search",
                json={"experiment_ids": [v1_id], "filter": "metrics.acc >= 0.1"},
            )
        assert mlflow.status_code == v1.status_code == 200
        assert [s for s in mlflow_sql if READS_RUN_TABLE.search(s)] == [
            s for s in v1_sql if READS_RUN_TABLE.search(s)
        ]
        assert len([s for s in mlflow_sql if READS_RUN_TABLE.search(s)]) == 1
        # The MLflow wire reads one thing more: the runs' inputs and outputs.
        assert len(mlflow_sql) == len(v1_sql) + 1

    async def test_both_apis_show_the_same_runs(self, server: Server) -> None:
        experiment_id = await filled_experiment(server)
        mlflow = await server.client.post(
            f"{API}/runs/search",
            json={"experiment_ids": [experiment_id], "order_by": ["metrics.acc DESC"]},
        )
        v1 = await server.client.post(
            "/api/v1/runs/search",
            json={
                "experiment_ids": [str(uuid.UUID(experiment_id))],
                "order_by": ["metrics.acc DESC"],
            },
        )
        ours = [
            (run["id"].replace("-", ""), run["name"], run["params"], run["metrics"]["acc"]["value"])
            for run in v1.json()["runs"]
        ]
        theirs = [
            (
                run["info"]["run_id"],
                run["info"]["run_name"],
                {p["key"]: p["value"] for p in run["data"]["params"]},
                run["data"]["metrics"][0]["value"],
            )
            for run in mlflow.json()["runs"]
        ]
        assert ours == theirs
        assert [name for _, name, _, _ in ours] == ["r2", "r1", "r0"]

    async def test_params_tags_and_metrics_come_in_key_order_on_both_apis(
        self, server: Server
    ) -> None:
        """Two reads of an unchanged run answer the same: the order is the keys', not the
        order the rows were written in (which a change of query plan would change)."""
        created = await server.client.post(f"{API}/experiments/create", json={"name": "order"})
        run = await server.client.post(
            f"{API}/runs/create", json={"experiment_id": created.json()["experiment_id"]}
        )
        run_id = run.json()["run"]["info"]["run_id"]
        keys = ["zeta", "alpha", "mu", "beta"]
        for key in keys:  # one request each: the rows are stored in this order
            logged = await server.client.post(
                f"{API}/runs/log-batch",
                json={
                    "run_id": run_id,
                    "params": [{"key": key, "value": "1"}],
                    "tags": [{"key": key, "value": "1"}],
                    "metrics": [{"key": key, "value": 1, "timestamp": 1, "step": 0}],
                },
            )
            assert logged.status_code == 200, logged.text
        # Statistics of tables this small make a sequential scan the cheapest plan, which
        # returns rows in the order they were stored (autovacuum may analyze at any time).
        database, _ = await server.app.state.runtime.resources()  # type: ignore[attr-defined]
        async with database.engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()
        got = (await server.client.get(f"{API}/runs/get", params={"run_id": run_id})).json()
        data = got["run"]["data"]
        for field in ("params", "metrics"):
            assert [item["key"] for item in data[field]] == sorted(keys), field
        assert [t["key"] for t in data["tags"] if t["key"] in keys] == sorted(keys)
        v1 = (await server.client.get(f"/api/v1/runs/{uuid.UUID(run_id)}")).json()
        for field in ("params", "tags", "metrics"):
            assert [key for key in v1[field] if key in keys] == sorted(keys), field
