"""Logging to runs through /api/v1: batches, params, tags and metric points."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Server, side_database
from tests.factories import create_experiment, create_run

MISSING = "00000000-0000-0000-0000-000000000000"


async def new_run(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    experiment = await create_experiment(client)
    return await create_run(client, experiment["id"], **fields)


async def batch(client: httpx.AsyncClient, run_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/runs/{run_id}/batch", json=body)


async def get_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


class TestBatch:
    async def test_metrics_params_and_tags_together(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        response = await batch(
            client,
            run["id"],
            metrics=[
                {"key": "loss", "value": 2.0, "step": 0, "timestamp": 1000},
                {"key": "loss", "value": 0.5, "step": 2, "timestamp": 1002},
                {"key": "loss", "value": 1.0, "step": 1, "timestamp": 1001},
                {"key": "val/acc", "value": 0.9, "step": 1},
            ],
            params={"lr": 0.01, "layers": 3, "fused": True, "name": "resnet"},
            tags={"team": "nlp"},
        )
        assert response.status_code == 200
        assert response.json() == {"metrics": 4, "params": 4, "tags": 1}
        stored = await get_run(client, run["id"])
        assert stored["params"] == {"lr": "0.01", "layers": "3", "fused": "true", "name": "resnet"}
        assert stored["tags"] == {"team": "nlp"}
        loss = stored["metrics"]["loss"]
        assert loss == {"value": 0.5, "step": 2, "timestamp": 1002, "min": 0.5, "max": 2.0}
        assert stored["metrics"]["val/acc"]["value"] == 0.9
        assert stored["metrics"]["val/acc"]["timestamp"] > 1_700_000_000_000  # defaulted to now

    async def test_latest_is_by_step_across_batches(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        await batch(client, run["id"], metrics=[{"key": "m", "value": 5, "step": 10}])
        await batch(client, run["id"], metrics=[{"key": "m", "value": 7, "step": 3}])
        await batch(client, run["id"], metrics=[{"key": "m", "value": -1, "step": 4}])
        latest = (await get_run(client, run["id"]))["metrics"]["m"]
        assert (latest["value"], latest["step"], latest["min"], latest["max"]) == (5, 10, -1, 7)

    async def test_nan_and_infinities_are_stored_exactly(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        await batch(
            client,
            run["id"],
            metrics=[
                {"key": "a", "value": "Infinity", "step": 0},
                {"key": "a", "value": "-Infinity", "step": 1},
                {"key": "a", "value": "NaN", "step": 2},
                {"key": "only_nan", "value": "NaN"},
            ],
        )
        metrics = (await get_run(client, run["id"]))["metrics"]
        assert metrics["a"]["value"] == "NaN"
        assert metrics["a"]["min"] == "-Infinity" and metrics["a"]["max"] == "Infinity"
        assert metrics["only_nan"] == {
            "value": "NaN",
            "step": 0,
            "timestamp": metrics["only_nan"]["timestamp"],
            "min": None,
            "max": None,
        }

    async def test_a_resent_batch_changes_nothing(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        body = {
            "metrics": [
                {"key": "m", "value": float(i), "step": i, "timestamp": 5} for i in range(50)
            ],
            "params": {"p": "1"},
            "tags": {"t": "x"},
        }
        first = await batch(client, run["id"], **body)
        second = await batch(client, run["id"], **body)
        assert first.status_code == second.status_code == 200
        stored = await get_run(client, run["id"])
        assert stored["metrics"]["m"] == {
            "value": 49.0,
            "step": 49,
            "timestamp": 5,
            "min": 0.0,
            "max": 49.0,
        }

    async def test_ten_thousand_points_is_the_limit(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        points = [{"key": "m", "value": 1.0, "step": i} for i in range(10_001)]
        response = await batch(client, run["id"], metrics=points)
        assert response.status_code == 413
        assert "10000" in response.text
        assert (await batch(client, run["id"], metrics=points[:10_000])).status_code == 200

    @pytest.mark.parametrize(
        ("point", "field", "message"),
        [
            ({"key": "../x", "value": 1}, "key", "normalized"),
            ({"key": "a\nb", "value": 1}, "key", "should match pattern"),
            ({"key": "x" * 251, "value": 1}, "key", "at most 250"),
            ({"key": "x", "value": "high"}, "value", "'NaN', 'Infinity' or '-Infinity'"),
            ({"key": "x", "value": True}, "value", "valid number"),
            ({"key": "x", "value": 1, "step": 1.5}, "step", "integer"),
            ({"key": "x", "value": 1, "timestamp": -1}, "timestamp", "greater than or equal"),
        ],
    )
    async def test_bad_points_are_422_naming_the_field(
        self, client: httpx.AsyncClient, point: dict[str, Any], field: str, message: str
    ) -> None:
        run = await new_run(client)
        good = {"key": "fine", "value": 1.0}
        response = await batch(client, run["id"], metrics=[good, point], params={"p": "1"})
        assert response.status_code == 422
        errors = response.json()["detail"]
        assert all(error["loc"][:3] == ["body", "metrics", 1] for error in errors)
        assert any(field in e["loc"] and message in e["msg"] for e in errors), errors
        stored = await get_run(client, run["id"])
        assert stored["metrics"] == {} and stored["params"] == {}  # nothing half-written

    @pytest.mark.parametrize(
        "body",
        [{"params": {"a": "1"}}, {"metrics": [{"key": "m", "value": 1}]}, {}],
        ids=["params", "metrics-only", "empty"],
    )
    async def test_unknown_or_deleted_run_is_404(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        assert (await batch(client, MISSING, **body)).status_code == 404
        run = await new_run(client)
        await client.delete(f"/api/v1/runs/{run['id']}")
        assert (await batch(client, run["id"], **body)).status_code == 404
        experiment_run = await new_run(client)
        await client.delete(f"/api/v1/experiments/{experiment_run['experiment_id']}")
        assert (await batch(client, experiment_run["id"], **body)).status_code == 404

    async def test_logging_to_a_finished_run_is_allowed(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        await client.patch(f"/api/v1/runs/{run['id']}", json={"status": "completed"})
        assert (await batch(client, run["id"], tags={"late": "yes"})).status_code == 200


class TestParams:
    async def test_write_once(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client, params={"lr": "0.1"})
        url = f"/api/v1/runs/{run['id']}/params"
        same = await client.post(url, json={"key": "lr", "value": "0.1"})
        assert same.status_code == 200
        changed = await client.post(url, json={"key": "lr", "value": "0.2"})
        assert changed.status_code == 409
        assert "'lr'" in changed.json()["detail"]
        assert (await get_run(client, run["id"]))["params"] == {"lr": "0.1"}

    async def test_a_changed_param_rejects_the_whole_batch(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client, params={"lr": "0.1"})
        response = await batch(
            client,
            run["id"],
            params={"lr": "0.2", "new": "x"},
            tags={"t": "1"},
            metrics=[{"key": "m", "value": 1}],
        )
        assert response.status_code == 409
        stored = await get_run(client, run["id"])
        assert stored["params"] == {"lr": "0.1"}
        assert stored["tags"] == {} and stored["metrics"] == {}

    async def test_racing_different_values_one_wins(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        url = f"/api/v1/runs/{run['id']}/params"
        responses = await asyncio.gather(
            *(client.post(url, json={"key": "seed", "value": str(i)}) for i in range(5))
        )
        assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
        winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
        assert (await get_run(client, run["id"]))["params"] == {"seed": str(winner)}

    async def test_value_longer_than_6000_is_422(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        response = await client.post(
            f"/api/v1/runs/{run['id']}/params", json={"key": "k", "value": "x" * 6001}
        )
        assert response.status_code == 422
        assert "6000" in response.text


class TestTags:
    async def test_set_overwrite_delete(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client, tags={"a/b": "1"})
        url = f"/api/v1/runs/{run['id']}/tags/a/b"
        assert (await client.put(url, json={"value": "2"})).status_code == 200
        assert (await get_run(client, run["id"]))["tags"] == {"a/b": "2"}
        assert (await client.delete(url)).status_code == 204
        assert (await get_run(client, run["id"]))["tags"] == {}
        assert (await client.delete(url)).status_code == 404


class TestSingleMetric:
    async def test_one_point(self, client: httpx.AsyncClient) -> None:
        run = await new_run(client)
        response = await client.post(
            f"/api/v1/runs/{run['id']}/metrics", json={"key": "acc", "value": 0.7, "step": 3}
        )
        assert response.status_code == 200
        assert (await get_run(client, run["id"]))["metrics"]["acc"]["step"] == 3


class TestRunDetails:
    async def test_description_and_parent(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        parent = await create_run(client, experiment["id"], description="sweep")
        child = await create_run(client, experiment["id"], parent_run_id=parent["id"])
        patched = await client.patch(
            f"/api/v1/runs/{child['id']}", json={"description": "notes: try lr 0.1"}
        )
        assert patched.json()["description"] == "notes: try lr 0.1"
        assert patched.json()["parent_run_id"] == parent["id"]

    async def test_purging_an_experiment_removes_everything_under_it(self, server: Server) -> None:
        client = server.client
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"], params={"p": "1"})
        await batch(client, run["id"], metrics=[{"key": "m", "value": 1}], tags={"t": "1"})
        url = f"/api/v1/experiments/{experiment['id']}"
        assert await stored_rows(server) == {"metric": 1, "latest_metric": 1, "param": 1}
        assert (await client.delete(url, params={"purge": "true"})).status_code == 204
        assert (await client.post(f"/api/v1/runs/{run['id']}/restore")).status_code == 404
        assert await stored_rows(server) == {"metric": 0, "latest_metric": 0, "param": 0}

    async def test_purging_a_run_removes_its_points(self, server: Server) -> None:
        client = server.client
        run = await new_run(client)
        await batch(client, run["id"], metrics=[{"key": k, "value": 1} for k in "abc"])
        assert (await stored_rows(server))["metric"] == 3
        await client.delete(f"/api/v1/runs/{run['id']}", params={"purge": "true"})
        assert await stored_rows(server) == {"metric": 0, "latest_metric": 0, "param": 0}


async def stored_rows(server: Server) -> dict[str, int]:
    """Rows left in the tables of what runs log (the database is emptied for each test)."""
    database = side_database(server.backend.settings().resolved_database_url)
    counts = {}
    async with database.engine.connect() as connection:
        for table in ("metric", "latest_metric", "param"):
            result = await connection.execute(text(f"SELECT count(*) FROM {table}"))
            counts[table] = int(result.scalar_one())
    await database.dispose()
    return counts


class TestMetricBlocks:
    """Each batch also rolls its points up into blocks of 256 steps (`metric_block`)."""

    @staticmethod
    async def blocks(server: Server) -> list[tuple[int, int, float | None, float | None, int]]:
        database = side_database(server.backend.settings().resolved_database_url)
        try:
            async with database.engine.connect() as connection:
                rows = await connection.execute(
                    text(
                        "SELECT block, count, min_value, max_value, last_step FROM metric_block "
                        "ORDER BY series_id, block"
                    )
                )
                return [tuple(row) for row in rows.all()]  # type: ignore[misc]
        finally:
            await database.dispose()

    async def test_blocks_count_only_points_stored(self, server: Server) -> None:
        client = server.client
        run = await new_run(client)
        points = [
            {"key": "m", "value": float(s % 50), "step": s, "timestamp": 7} for s in range(-5, 2050)
        ]
        points[3]["value"] = "NaN"
        assert (await batch(client, run["id"], metrics=points)).status_code == 200
        # Re-sent, partly with other values, and with one new point (step 5000)
        resent = [p | {"value": 99.0} for p in points[::2]] + [
            {"key": "m", "value": -1.0, "step": 5000, "timestamp": 1}
        ]
        assert (await batch(client, run["id"], metrics=resent)).status_code == 200
        assert (await batch(client, run["id"], metrics=points)).status_code == 200

        assert await self.blocks(server) == [
            (-1, 5, 45.0, 49.0, -1),  # step -2 is NaN
            *((block, 256, 0.0, 49.0, 256 * block + 255) for block in range(8)),
            (8, 2, 48.0, 49.0, 2049),
            (19, 1, -1.0, -1.0, 5000),
        ]

    async def test_purging_removes_the_blocks(self, server: Server) -> None:
        client = server.client
        run = await new_run(client)
        points = [
            {"key": k, "value": 1.0, "step": s} for k in ("a", "b") for s in range(0, 3000, 7)
        ]
        assert (await batch(client, run["id"], metrics=points)).status_code == 200
        assert len(await self.blocks(server)) == 24  # blocks 0-11 of each

        purged = await client.delete(f"/api/v1/runs/{run['id']}", params={"purge": "true"})

        assert purged.status_code == 204
        assert await self.blocks(server) == []
