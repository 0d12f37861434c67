"""Runs in /api/v1 (the foundation's minimal runs)."""

from datetime import datetime

import httpx
import pytest

from tests.factories import create_experiment, create_run

MISSING = "00000000-0000-0000-0000-000000000000"


class TestCreateRun:
    async def test_201_running_with_a_generated_name(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        response = await client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={})
        assert response.status_code == 201
        run = response.json()
        assert run["status"] == "running"
        assert run["experiment_id"] == experiment["id"]
        assert run["name"].startswith("run-")
        assert run["ended_at"] is None

    async def test_in_a_missing_experiment_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"/api/v1/experiments/{MISSING}/runs", json={})
        assert response.status_code == 404

    async def test_nested_run(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        parent = await create_run(client, experiment["id"], name="parent")
        child = await create_run(client, experiment["id"], parent_run_id=parent["id"])
        assert child["parent_run_id"] == parent["id"]

    async def test_parent_from_another_experiment_is_422(self, client: httpx.AsyncClient) -> None:
        one = await create_experiment(client)
        other = await create_experiment(client)
        parent = await create_run(client, other["id"])
        response = await client.post(
            f"/api/v1/experiments/{one['id']}/runs", json={"parent_run_id": parent["id"]}
        )
        assert response.status_code == 422
        assert "parent_run_id" in response.json()["detail"]

    async def test_a_start_time_without_a_zone_is_422_naming_it(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            f"/api/v1/experiments/{experiment['id']}/runs",
            json={"started_at": "2026-01-02T00:00:00"},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "started_at"]


class TestGetAndListRuns:
    async def test_get(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"], name="r1", user="alice")
        fetched = await client.get(f"/api/v1/runs/{run['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == run
        assert (await client.get(f"/api/v1/runs/{MISSING}")).status_code == 404

    async def test_list_is_paginated_newest_first(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        runs = [
            await create_run(client, experiment["id"], started_at=f"2026-01-{day:02d}T00:00:00Z")
            for day in range(1, 8)
        ]
        url = f"/api/v1/experiments/{experiment['id']}/runs"
        first = (await client.get(url, params={"per_page": 3})).json()
        assert first["total"] == 7 and first["pages"] == 3
        ids = [run["id"] for run in first["items"]]
        for page in (2, 3):
            ids += [
                r["id"]
                for r in (await client.get(url, params={"per_page": 3, "page": page})).json()[
                    "items"
                ]
            ]
        assert ids == [run["id"] for run in reversed(runs)]

    async def test_list_of_missing_experiment_is_404(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(f"/api/v1/experiments/{MISSING}/runs")).status_code == 404


class TestUpdateRun:
    @pytest.mark.parametrize("status", ["completed", "failed", "killed"])
    async def test_final_status_sets_the_end_time(
        self, client: httpx.AsyncClient, status: str
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        response = await client.patch(f"/api/v1/runs/{run['id']}", json={"status": status})
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == status
        assert datetime.fromisoformat(body["ended_at"]) >= datetime.fromisoformat(
            body["started_at"]
        )

    async def test_back_to_running_clears_the_end_time(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await client.patch(f"/api/v1/runs/{run['id']}", json={"status": "failed"})
        body = (await client.patch(f"/api/v1/runs/{run['id']}", json={"status": "running"})).json()
        assert body["ended_at"] is None

    async def test_unknown_status_is_422(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        response = await client.patch(f"/api/v1/runs/{run['id']}", json={"status": "done"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "status"]

    async def test_end_before_start_is_422(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"], started_at="2026-01-02T00:00:00Z")
        response = await client.patch(
            f"/api/v1/runs/{run['id']}",
            json={"status": "completed", "ended_at": "2026-01-01T00:00:00Z"},
        )
        assert response.status_code == 422
        assert (await client.get(f"/api/v1/runs/{run['id']}")).json()["status"] == "running"

    async def test_an_end_time_without_a_zone_is_422_naming_it(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        response = await client.patch(
            f"/api/v1/runs/{run['id']}",
            json={"status": "completed", "ended_at": "2026-01-02T00:00:00"},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "ended_at"]
        assert (await client.get(f"/api/v1/runs/{run['id']}")).json()["status"] == "running"

    async def test_missing_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(f"/api/v1/runs/{MISSING}", json={"status": "failed"})
        assert response.status_code == 404

    async def test_run_changes_show_on_the_experiment(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await client.get(f"/api/v1/experiments/{experiment['id']}")  # cache it
        await client.patch(f"/api/v1/runs/{run['id']}", json={"status": "completed"})
        body = (await client.get(f"/api/v1/experiments/{experiment['id']}")).json()
        assert body["runs"][0]["status"] == "completed"


class TestDeleteRun:
    async def test_soft_delete_restore_and_purge(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        assert (await client.delete(f"/api/v1/runs/{run['id']}")).status_code == 204
        assert (await client.get(f"/api/v1/runs/{run['id']}")).status_code == 404
        exp = (await client.get(f"/api/v1/experiments/{experiment['id']}")).json()
        assert exp["run_count"] == 0
        assert (await client.post(f"/api/v1/runs/{run['id']}/restore")).status_code == 200
        assert (await client.get(f"/api/v1/runs/{run['id']}")).status_code == 200
        purge = await client.delete(f"/api/v1/runs/{run['id']}", params={"purge": "true"})
        assert purge.status_code == 204
        assert (await client.post(f"/api/v1/runs/{run['id']}/restore")).status_code == 404
