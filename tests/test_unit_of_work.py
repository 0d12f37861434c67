"""One transaction per request: a write request commits exactly once, after its handler
returned; a request that fails half-way leaves nothing behind, and its cache invalidations
never run."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from mltrail_server.db.repositories import runs as runs_repo
from tests.background_tasks import in_background_task
from tests.conftest import Server

API = "/api/2.0/mlflow"


@contextmanager
def commits(database: Any) -> Iterator[list[list[str]]]:
    """The statements of each transaction committed on the server's engine while the block
    runs, leaving out the server's background tasks (tests/background_tasks.py: the audit
    log's writer, the purge drainer and gc commit on their own)."""
    seen: list[list[str]] = []
    open_transactions: dict[int, list[str]] = {}
    engine = database.engine.sync_engine

    def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not in_background_task():
            open_transactions.setdefault(id(connection), []).append(statement)

    def on_commit(connection: Any) -> None:
        done = open_transactions.pop(id(connection), [])
        # A commit that ran no statement changes nothing.
        if done and not any("audit_event" in statement for statement in done):
            seen.append(done)

    def on_rollback(connection: Any) -> None:
        open_transactions.pop(id(connection), None)

    hooks = {"before_cursor_execute": before, "commit": on_commit, "rollback": on_rollback}
    for name, hook in hooks.items():
        event.listen(engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks.items():
            event.remove(engine, name, hook)


async def mlflow_run(server: Server, **experiment: Any) -> tuple[str, str]:
    created = await server.client.post(
        f"{API}/experiments/create", json={"name": f"uow-{uuid.uuid4().hex[:8]}", **experiment}
    )
    experiment_id = created.json()["experiment_id"]
    run = await server.client.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
    assert run.status_code == 200, run.text
    return experiment_id, run.json()["run"]["info"]["run_id"]


class TestOneCommitPerRequest:
    async def test_each_write_commits_once(self, server: Server) -> None:
        database, _ = await server.app.state.runtime.resources()  # type: ignore[attr-defined]
        experiment_id, run_id = await mlflow_run(server, artifact_location="file:///tmp/x")
        requests: list[tuple[str, str, dict[str, Any]]] = [
            (
                "post",
                f"{API}/runs/set-tag",
                {"run_id": run_id, "key": "mlflow.runName", "value": "n"},
            ),
            ("post", f"{API}/runs/create", {"experiment_id": experiment_id}),
            (
                "post",
                f"{API}/runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
                    "params": [{"key": "p", "value": "1"}],
                    "tags": [{"key": "mlflow.runName", "value": "renamed"}],
                },
            ),
            ("post", f"{API}/runs/update", {"run_id": run_id, "run_name": "again"}),
            (
                "post",
                f"{API}/experiments/set-experiment-tag",
                {"experiment_id": experiment_id, "key": "k", "value": "v"},
            ),
            ("post", "/api/v1/experiments", {"name": f"v1-{uuid.uuid4().hex[:8]}", "owner": "me"}),
        ]
        for method, path, body in requests:
            with commits(database) as seen:
                response = await server.client.request(method, path, json=body)
            assert response.status_code in (200, 201), (path, response.text)
            assert len(seen) == 1, f"{path}: {len(seen)} commits"

    async def test_a_read_commits_nothing(self, server: Server) -> None:
        database, _ = await server.app.state.runtime.resources()  # type: ignore[attr-defined]
        experiment_id, run_id = await mlflow_run(server)
        with commits(database) as seen:
            got = await server.client.get(f"{API}/runs/get", params={"run_id": run_id})
            found = await server.client.post(
                f"{API}/runs/search", json={"experiment_ids": [experiment_id]}
            )
        assert got.status_code == found.status_code == 200
        assert seen == []


class TestFailureLeavesNothing:
    async def test_a_run_whose_second_step_fails_is_not_created(
        self, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """runs/create in an experiment with its own artifact location stores the run, then
        its artifact URI: when the second write fails, the first is not kept either."""
        experiment_id, _ = await mlflow_run(server, artifact_location="file:///tmp/uow")

        async def refuse(*args: object) -> None:
            raise RuntimeError("the disk is full")

        monkeypatch.setattr(runs_repo, "set_artifact_uri", refuse)
        failed = await server.client.post(
            f"{API}/runs/create", json={"experiment_id": experiment_id}
        )
        assert failed.status_code == 500
        monkeypatch.undo()
        found = await server.client.post(
            f"{API}/runs/search", json={"experiment_ids": [experiment_id]}
        )
        assert len(found.json()["runs"]) == 1  # only the run made by mlflow_run

    async def test_a_failed_rename_keeps_the_logged_batch_out(
        self, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """log-batch with an `mlflow.runName` tag logs, then renames the run: a failure in
        the rename keeps the metrics, params and tags of the batch out too."""
        _, run_id = await mlflow_run(server)

        async def refuse(*args: object, **kwargs: object) -> None:
            raise RuntimeError("lost the connection")

        monkeypatch.setattr(runs_repo, "get", refuse)
        failed = await server.client.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": run_id,
                "metrics": [{"key": "loss", "value": 1, "timestamp": 1, "step": 0}],
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "mlflow.runName", "value": "renamed"}],
            },
        )
        assert failed.status_code == 500
        monkeypatch.undo()
        run = (await server.client.get(f"{API}/runs/get", params={"run_id": run_id})).json()
        data = run["run"]["data"]
        assert not data.get("metrics") and not data.get("params")
        assert run["run"]["info"]["run_name"] != "renamed"


class TestTheDefaultExperiment:
    async def test_a_read_that_needs_it_creates_it_for_good(self, server: Server) -> None:
        """A read session is never committed: MLflow's "0", created on first use by a GET,
        is created in a transaction of its own, and stays."""
        got = await server.client.get(f"{API}/experiments/get", params={"experiment_id": "0"})
        assert got.status_code == 200, got.text
        assert got.json()["experiment"]["name"] == "Default"
        listed = await server.client.get("/api/v1/experiments")
        assert [item["name"] for item in listed.json()["items"]] == ["Default"]
