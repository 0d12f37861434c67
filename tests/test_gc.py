"""Garbage collection (`POST /api/v1/admin/gc`, `mltrail gc`, the background task) on
SQLite and PostgreSQL: soft-deleted runs and experiments old enough go for good, with
their params, tags, points, datasets and logged-model metrics, and their artifact files
through the purge queue; what is live, too recent, or the source of a registered model
version stays, whole. A dry run changes nothing; one collector at a time on PostgreSQL."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from mltrail_server.db.engine import Database
from mltrail_server.db.tables import Experiment, Run
from mltrail_server.db.types import utcnow
from mltrail_server.runtime import Runtime
from mltrail_server.services import gc
from mltrail_server.services.gc import GC_LOCK_KEY
from mltrail_server.storage import LocalArtifactStore
from tests.conftest import Backend, Server, side_database, start_server, stop_server
from tests.factories import create_experiment, create_run, unique_name

API = "/api/2.0/mlflow"
GC = "/api/v1/admin/gc"
DEADLINE_SECONDS = 90.0
WEEK = 7 * 24 * 3600


async def _eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    data: dict[str, Any] = response.json()
    return data


def _runtime(server: Server) -> Runtime:
    runtime: Runtime = server.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _folder(server: Server, experiment_id: str, run_id: str | None = None) -> Path:
    store = _runtime(server).artifact_store
    assert isinstance(store, LocalArtifactStore)
    folder = store.root / uuid.UUID(experiment_id).hex
    return folder / uuid.UUID(run_id).hex if run_id else folder


async def _backdate(
    server: Server, days: float, *, runs: list[str], experiments: list[str]
) -> None:
    """As if deleted `days` ago: the test sets the time rather than waiting for it."""
    database, _ = await _runtime(server).resources()
    when = utcnow() - timedelta(days=days)
    async with database.session() as session:
        if runs:
            ids = [uuid.UUID(r) for r in runs]
            await session.execute(update(Run).where(Run.id.in_(ids)).values(deleted_at=when))
        if experiments:
            ids = [uuid.UUID(e) for e in experiments]
            await session.execute(
                update(Experiment).where(Experiment.id.in_(ids)).values(deleted_at=when)
            )
        await session.commit()


COUNTED = [
    "experiment",
    "run",
    "param",
    "run_tag",
    "latest_metric",
    "metric",
    "metric_block",
    "run_link",
    "logged_model",
    "logged_model_metric",
    "model_version",
    "artifact_purge",
]


async def _counts(server: Server) -> dict[str, int]:
    database, _ = await _runtime(server).resources()
    async with database.read_session() as session:
        return {
            table: int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            for table in COUNTED
        }


async def _rows_of_run(server: Server, run_id: str) -> dict[str, int]:
    """What is left in each table that belongs to the run."""
    database, _ = await _runtime(server).resources()
    rid = uuid.UUID(run_id)
    async with database.read_session() as session:
        found = {}
        for table in ("param", "run_tag", "latest_metric", "run_link", "logged_model_metric"):
            query = select_count(table, "run_id")
            found[table] = int(
                (await session.execute(query, {"id": _db_uuid(session, rid)})).scalar_one()
            )
        return found


def select_count(table: str, column: str) -> Any:
    return text(f"SELECT count(*) FROM {table} WHERE {column} = :id")


def _db_uuid(session: Any, value: uuid.UUID) -> Any:
    # SQLite stores a Uuid as 32 hex digits; PostgreSQL takes the UUID itself.
    return value.hex if session.bind.dialect.name == "sqlite" else value


@dataclass
class World:
    live_experiment: str
    gone_run: str  # deleted long ago: goes
    child_run: str  # live child of gone_run: stays, without a parent
    produced_model: str  # logged model gone_run produced: stays, without a source run
    registered_run: str  # deleted long ago, a model version made from it: stays
    recent_run: str  # deleted just now: stays unless the threshold is 0
    live_run: str  # never deleted
    gone_experiment: str  # deleted long ago, with a run, files and a logged model: goes
    gone_experiment_run: str
    held_experiment: str  # deleted long ago, its logged model registered: stays
    version: tuple[str, int]


async def _run_with_everything(client: httpx.AsyncClient, experiment_id: str) -> str:
    """A run with params, tags, points, a dataset input and an artifact file."""
    run = await create_run(client, experiment_id)
    rid = run["id"]
    metrics = [
        {"key": "loss", "value": 1.0 - s / 10, "timestamp": 1_700_000_000_000 + s, "step": s}
        for s in range(5)
    ]
    body = {
        "run_id": rid,
        "metrics": metrics,
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "note", "value": "x"}],
    }
    _ok(await client.post(f"{API}/runs/log-batch", json=body))
    dataset = {
        "tags": [{"key": "mlflow.data.context", "value": "training"}],
        "dataset": {
            "name": "iris",
            "digest": "abc123",
            "source_type": "local",
            "source": '{"uri": "/data/iris.csv"}',
        },
    }
    _ok(await client.post(f"{API}/runs/log-inputs", json={"run_id": rid, "datasets": [dataset]}))
    put = await client.put(f"/api/v1/runs/{rid}/artifacts/model/model.bin", content=b"weights")
    assert put.status_code == 201, put.text
    return str(rid)


async def _logged_model(client: httpx.AsyncClient, experiment_id: str, run_id: str | None) -> str:
    body: dict[str, Any] = {"experiment_id": uuid.UUID(experiment_id).hex, "name": "clf"}
    if run_id is not None:
        body["source_run_id"] = uuid.UUID(run_id).hex
    model_id: str = _ok(await client.post(f"{API}/logged-models", json=body))["model"]["info"][
        "model_id"
    ]
    if run_id is not None:
        metric = {
            "run_id": run_id,
            "key": "accuracy",
            "value": 0.9,
            "timestamp": 1_700_000_002_000,
            "step": 1,
            "model_id": model_id,
            "dataset_name": "iris",
            "dataset_digest": "abc123",
        }
        _ok(await client.post(f"{API}/runs/log-metric", json=metric))
    return model_id


async def _delete_run(client: httpx.AsyncClient, run_id: str) -> None:
    assert (await client.delete(f"/api/v1/runs/{run_id}")).status_code == 204


async def _delete_experiment(client: httpx.AsyncClient, experiment_id: str) -> None:
    assert (await client.delete(f"/api/v1/experiments/{experiment_id}")).status_code == 204


async def _world(server: Server) -> World:
    client = server.client
    live = (await create_experiment(client))["id"]
    gone_run = await _run_with_everything(client, live)
    child = (await create_run(client, live, parent_run_id=gone_run))["id"]
    produced = await _logged_model(client, live, gone_run)
    registered_run = await _run_with_everything(client, live)
    recent_run = await _run_with_everything(client, live)
    live_run = await _run_with_everything(client, live)

    name = unique_name("model")
    _ok(await client.post(f"{API}/registered-models/create", json={"name": name}))
    source = f"runs:/{uuid.UUID(registered_run).hex}/model"
    body = {"name": name, "source": source, "run_id": uuid.UUID(registered_run).hex}
    version = int(
        _ok(await client.post(f"{API}/model-versions/create", json=body))["model_version"][
            "version"
        ]
    )

    gone_experiment = (await create_experiment(client))["id"]
    gone_experiment_run = await _run_with_everything(client, gone_experiment)
    await _logged_model(client, gone_experiment, gone_experiment_run)

    held = (await create_experiment(client))["id"]
    held_model = await _logged_model(client, held, None)
    held_name = unique_name("model")
    _ok(await client.post(f"{API}/registered-models/create", json={"name": held_name}))
    body = {"name": held_name, "source": f"models:/{held_model}", "model_id": held_model}
    _ok(await client.post(f"{API}/model-versions/create", json=body))

    for run_id in (gone_run, registered_run, recent_run):
        await _delete_run(client, run_id)
    for experiment_id in (gone_experiment, held):
        await _delete_experiment(client, experiment_id)
    await _backdate(
        server, 30, runs=[gone_run, registered_run], experiments=[gone_experiment, held]
    )
    return World(
        live,
        gone_run,
        child,
        produced,
        registered_run,
        recent_run,
        live_run,
        gone_experiment,
        gone_experiment_run,
        held,
        (name, version),
    )


def _ids(report: dict[str, Any], part: str, kind: str) -> set[str]:
    return {item["id"] for item in report[part] if item["kind"] == kind}


class TestCollect:
    async def test_a_dry_run_lists_what_would_go_and_changes_nothing(self, server: Server) -> None:
        world = await _world(server)
        before = await _counts(server)
        report = _ok(
            await server.client.post(GC, json={"dry_run": True, "older_than_seconds": WEEK})
        )
        assert report["dry_run"] and report["ran"]
        assert _ids(report, "purged", "run") == {world.gone_run}
        assert _ids(report, "purged", "experiment") == {world.gone_experiment}
        assert _ids(report, "kept", "run") == {world.registered_run}
        assert _ids(report, "kept", "experiment") == {world.held_experiment}
        assert all("model version" in item["kept_because"] for item in report["kept"])
        assert await _counts(server) == before
        left = await _rows_of_run(server, world.gone_run)
        assert all(count > 0 for count in left.values()), left
        assert (_folder(server, world.live_experiment, world.gone_run) / "artifacts").exists()

    async def test_gc_purges_what_is_old_enough_and_nothing_else(self, server: Server) -> None:
        world = await _world(server)
        client = server.client
        live_points = _ok(
            await client.get(
                f"{API}/metrics/get-history",
                params={"run_id": world.live_run, "metric_key": "loss"},
            )
        )["metrics"]
        assert len(live_points) == 5
        report = _ok(await client.post(GC, json={"older_than_seconds": WEEK}))
        assert not report["dry_run"] and report["ran"]
        assert _ids(report, "purged", "run") == {world.gone_run}
        assert _ids(report, "purged", "experiment") == {world.gone_experiment}

        # The purged run: not found, and none of its rows left anywhere.
        got = await client.get(f"{API}/runs/get", params={"run_id": world.gone_run})
        assert got.status_code == 404, got.text
        assert set((await _rows_of_run(server, world.gone_run)).values()) == {0}
        # Its child and the model it produced stay, without the run.
        child = _ok(await client.get(f"/api/v1/runs/{world.child_run}"))
        assert child["parent_run_id"] is None
        model = _ok(await client.get(f"{API}/logged-models/{world.produced_model}"))["model"]
        assert model["info"].get("source_run_id") in (None, "")
        # The purged experiment and its run are gone.
        got = await client.get(
            f"{API}/experiments/get", params={"experiment_id": world.gone_experiment}
        )
        assert got.status_code == 404, got.text
        assert (
            await client.get(f"{API}/runs/get", params={"run_id": world.gone_experiment_run})
        ).status_code == 404

        # Kept: the registry's source run (still deleted, its version still served), the
        # held experiment, the recent and the live run with all their points.
        for run_id in (world.registered_run, world.recent_run):
            info = _ok(await client.get(f"{API}/runs/get", params={"run_id": run_id}))["run"][
                "info"
            ]
            assert info["lifecycle_stage"] == "deleted"
        name, version = world.version
        mv = _ok(
            await client.get(
                f"{API}/model-versions/get", params={"name": name, "version": str(version)}
            )
        )
        assert mv["model_version"]["run_id"] == uuid.UUID(world.registered_run).hex
        held = _ok(
            await client.get(
                f"{API}/experiments/get", params={"experiment_id": world.held_experiment}
            )
        )
        assert held["experiment"]["lifecycle_stage"] == "deleted"
        after = _ok(
            await client.get(
                f"{API}/metrics/get-history",
                params={"run_id": world.live_run, "metric_key": "loss"},
            )
        )["metrics"]
        assert after == live_points
        kept_file = await client.get(
            f"/api/v1/runs/{world.registered_run}/artifacts/model/model.bin"
        )
        assert kept_file.status_code in (200, 404)  # a deleted run's files are not served

        # The files of what went are deleted through the purge queue; the rest stay.
        gone_folder = _folder(server, world.live_experiment, world.gone_run) / "artifacts"
        experiment_folder = _folder(server, world.gone_experiment)

        async def files_gone() -> bool:
            queued = (await _counts(server))["artifact_purge"]
            return not gone_folder.exists() and not experiment_folder.exists() and queued == 0

        await _eventually(files_gone, "the purged run's and experiment's files deleted")
        for run_id in (world.registered_run, world.recent_run, world.live_run):
            path = (
                _folder(server, world.live_experiment, run_id) / "artifacts" / "model" / "model.bin"
            )
            assert path.read_bytes() == b"weights"

        # A second pass finds nothing more.
        again = _ok(await client.post(GC, json={"older_than_seconds": WEEK}))
        assert again["purged"] == []

    async def test_the_age_threshold_is_respected(self, server: Server) -> None:
        world = await _world(server)
        client = server.client
        month = 40 * 24 * 3600
        report = _ok(await client.post(GC, json={"dry_run": True, "older_than_seconds": month}))
        assert report["purged"] == [] and report["kept"] == []
        report = _ok(await client.post(GC, json={"older_than_seconds": 0}))
        assert _ids(report, "purged", "run") == {world.gone_run, world.recent_run}

    async def test_a_pass_reads_batch_after_batch_each_candidate_once(
        self, server: Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One candidate a batch: every deleted run and experiment is reported once, the
        kept ones too, whether the pass is dry (nothing leaves the listing) or not."""
        monkeypatch.setattr(gc, "BATCH", 1)
        world = await _world(server)
        client = server.client
        for dry_run in (True, False):
            body = {"dry_run": dry_run, "older_than_seconds": 0}
            report = _ok(await client.post(GC, json=body))
            listed = [item["id"] for part in ("purged", "kept") for item in report[part]]
            assert len(listed) == len(set(listed)), f"dry_run={dry_run}: {listed}"
            assert _ids(report, "purged", "run") == {world.gone_run, world.recent_run}
            assert _ids(report, "kept", "run") == {world.registered_run}
            assert _ids(report, "purged", "experiment") == {world.gone_experiment}
            assert _ids(report, "kept", "experiment") == {world.held_experiment}

    async def test_named_ids_only_and_bad_ids_refused(self, server: Server) -> None:
        world = await _world(server)
        client = server.client
        # Not deleted: refused, naming the field; nothing purged.
        refused = await client.post(GC, json={"run_ids": [world.live_run, world.gone_run]})
        assert refused.status_code in (400, 422), refused.text
        assert "run_ids" in refused.text and "not deleted" in refused.text
        unknown = await client.post(GC, json={"experiment_ids": [str(uuid.uuid4())]})
        assert unknown.status_code == 404 and "experiment_ids" in unknown.text
        # Only the named run goes (the threshold of 0 would take the others too).
        report = _ok(await client.post(GC, json={"run_ids": [world.recent_run]}))
        assert _ids(report, "purged", "run") == {world.recent_run}
        assert _ids(report, "purged", "experiment") == set()
        info = _ok(await client.get(f"{API}/runs/get", params={"run_id": world.gone_run}))
        assert info["run"]["info"]["lifecycle_stage"] == "deleted"
        # A named run the registry holds is kept, and says why.
        report = _ok(await client.post(GC, json={"run_ids": [world.registered_run]}))
        assert report["purged"] == [] and _ids(report, "kept", "run") == {world.registered_run}
        report = _ok(await client.post(GC, json={"experiment_ids": [world.gone_experiment]}))
        assert _ids(report, "purged", "experiment") == {world.gone_experiment}
        # Once its version is deleted, the run goes too.
        name, version = world.version
        body = {"name": name, "version": str(version)}
        _ok(await client.request("DELETE", f"{API}/model-versions/delete", json=body))
        report = _ok(await client.post(GC, json={"run_ids": [world.registered_run]}))
        assert _ids(report, "purged", "run") == {world.registered_run} and report["kept"] == []
        got = await client.get(f"{API}/runs/get", params={"run_id": world.registered_run})
        assert got.status_code == 404


class TestOneCollectorAtATime:
    async def test_a_held_advisory_lock_makes_a_pass_collect_nothing(
        self, postgres_backend: Backend
    ) -> None:
        server = await _started(postgres_backend)
        try:
            world = await _world(server)
            database = side_database(postgres_backend.settings().resolved_database_url)
            async with database.engine.connect() as holder:
                taken = await holder.scalar(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": GC_LOCK_KEY}
                )
                assert taken
                report = _ok(await server.client.post(GC, json={"older_than_seconds": WEEK}))
                assert report["ran"] is False and report["purged"] == []
                info = _ok(
                    await server.client.get(f"{API}/runs/get", params={"run_id": world.gone_run})
                )
                assert info["run"]["info"]["lifecycle_stage"] == "deleted"
                await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": GC_LOCK_KEY})
            await database.dispose()
            report = _ok(await server.client.post(GC, json={"older_than_seconds": WEEK}))
            assert report["ran"] and _ids(report, "purged", "run") == {world.gone_run}
        finally:
            await stop_server(server)

    async def test_two_concurrent_passes_purge_each_once_without_error(
        self, postgres_backend: Backend
    ) -> None:
        first = await _started(postgres_backend)
        second = await start_server(postgres_backend.settings(), postgres_backend)
        try:
            world = await _world(first)
            before = await _counts(first)
            a, b = await asyncio.gather(
                first.client.post(GC, json={"older_than_seconds": WEEK}),
                second.client.post(GC, json={"older_than_seconds": WEEK}),
            )
            reports = [_ok(a), _ok(b)]
            purged = [item["id"] for r in reports for item in r["purged"]]
            assert sorted(purged) == sorted([world.gone_run, world.gone_experiment])
            after = await _counts(first)
            assert after["run"] == before["run"] - 2  # the run, and the experiment's run
            assert after["experiment"] == before["experiment"] - 1
        finally:
            await stop_server(second)
            await stop_server(first)


async def _started(backend: Backend, **settings: object) -> Server:
    from tests.conftest import _empty

    database = Database(backend.settings().resolved_database_url, pooled=False)
    await _empty(database)
    await database.dispose()
    return await start_server(backend.settings(**settings), backend)


class TestScheduled:
    async def test_the_background_task_purges_what_is_older_than_the_setting(
        self, backend: Backend
    ) -> None:
        server = await _started(backend)
        try:
            world = await _world(server)
        finally:
            await stop_server(server)
        server = await start_server(
            backend.settings(gc_deleted_after_days=7, gc_interval_seconds=0.2), backend
        )
        try:
            client = server.client

            async def purged() -> bool:
                got = await client.get(f"{API}/runs/get", params={"run_id": world.gone_run})
                return got.status_code == 404

            await _eventually(purged, "the background task purged the month-old deleted run")
            scheduler = _runtime(server).gc_scheduler
            assert scheduler is not None
            passes = scheduler.passes

            async def another_pass() -> bool:
                return scheduler.passes > passes

            await _eventually(another_pass, "a later pass of the background task")
            info = _ok(await client.get(f"{API}/runs/get", params={"run_id": world.recent_run}))
            assert info["run"]["info"]["lifecycle_stage"] == "deleted"
            gone = await client.get(
                f"{API}/experiments/get", params={"experiment_id": world.gone_experiment}
            )
            assert gone.status_code == 404
        finally:
            await stop_server(server)

    def test_off_by_default(self, backend: Backend) -> None:
        assert backend.settings().gc_deleted_after_days == 0
        assert Runtime(backend.settings()).gc_scheduler is None


DAY_MS = 86_400_000


async def _points(client: httpx.AsyncClient, run_id: str, key: str) -> list[tuple[int, float]]:
    got = _ok(
        await client.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    )
    return sorted((int(p["step"]), float(p["value"])) for p in got.get("metrics", []))


async def _rollups(server: Server) -> list[tuple[Any, ...]]:
    database, _ = await _runtime(server).resources()
    async with database.read_session() as session:
        blocks = await session.execute(
            text("SELECT series_id, block, count, min_value, max_value FROM metric_block")
        )
        latest = await session.execute(
            text("SELECT id, step, value, min_value, max_value FROM latest_metric")
        )
        return sorted(tuple(row) for row in [*blocks.all(), *latest.all()])


class TestMetricRetention:
    async def test_old_raw_points_go_in_tagged_experiments_only_rollups_stay(
        self, server: Server
    ) -> None:
        client = server.client
        now_ms = int(utcnow().timestamp() * 1000)
        old_ms = now_ms - 60 * DAY_MS
        runs = {}
        for tagged in (True, False):
            experiment = (await create_experiment(client))["id"]
            if tagged:
                tag = {"experiment_id": experiment, "key": "mltrail.metric_retention_days"}
                _ok(
                    await client.post(
                        f"{API}/experiments/set-experiment-tag", json=tag | {"value": "30"}
                    )
                )
            run = (await create_run(client, experiment))["id"]
            loss = [
                {
                    "key": "loss",
                    "value": 10.0 - s,
                    "step": s,
                    "timestamp": (old_ms if s < 5 else now_ms) + s,
                }
                for s in range(10)
            ]
            acc = [
                {"key": "acc", "value": s / 10, "step": s, "timestamp": old_ms + s}
                for s in range(3)
            ]
            _ok(
                await client.post(
                    f"{API}/runs/log-batch", json={"run_id": run, "metrics": loss + acc}
                )
            )
            runs[tagged] = run
        rollups = await _rollups(server)

        report = _ok(await client.post(GC, json={"dry_run": True}))
        assert [p["points"] for p in report["metric_points"]] == [5 + 2]
        assert len(await _points(client, runs[True], "loss")) == 10

        report = _ok(await client.post(GC, json={}))
        assert [p["points"] for p in report["metric_points"]] == [7]
        assert report["metric_points"][0]["retention_days"] == 30
        # The tagged run keeps its recent points and each series' latest; the other run all.
        assert await _points(client, runs[True], "loss") == [(s, 10.0 - s) for s in range(5, 10)]
        assert await _points(client, runs[True], "acc") == [(2, 0.2)]
        assert len(await _points(client, runs[False], "loss")) == 10
        assert len(await _points(client, runs[False], "acc")) == 3
        # The rollups (per block and per series: count, min, max, latest) are untouched.
        assert await _rollups(server) == rollups
        info = _ok(await client.get(f"{API}/runs/get", params={"run_id": runs[True]}))
        latest = {m["key"]: m["value"] for m in info["run"]["data"]["metrics"]}
        assert latest == {"loss": 1.0, "acc": 0.2}
        # A second pass finds nothing more to drop.
        assert _ok(await client.post(GC, json={}))["metric_points"] == []

    async def test_a_bad_retention_tag_is_ignored(self, server: Server) -> None:
        client = server.client
        experiment = (await create_experiment(client))["id"]
        tag = {"experiment_id": experiment, "key": "mltrail.metric_retention_days", "value": "soon"}
        _ok(await client.post(f"{API}/experiments/set-experiment-tag", json=tag))
        run = (await create_run(client, experiment))["id"]
        old_ms = int(utcnow().timestamp() * 1000) - 60 * DAY_MS
        body = {
            "run_id": run,
            "metrics": [{"key": "x", "value": s, "step": s, "timestamp": old_ms} for s in range(3)],
        }
        _ok(await client.post(f"{API}/runs/log-batch", json=body))
        assert _ok(await client.post(GC, json={}))["metric_points"] == []
        assert len(await _points(client, run, "x")) == 3
