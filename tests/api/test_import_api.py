"""POST /api/v1/import/runs: a run copied from another tracker keeps its id, times, status
and parent, can be sent again, and only an admin may send it."""

import uuid
from typing import Any

import httpx

from tests.api.access import Keys, as_key
from tests.conftest import Server
from tests.factories import create_experiment, create_run

STARTED = "2021-03-04T05:06:07.123000Z"
ENDED = "2021-03-04T06:00:00.456000Z"


def imported(experiment_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "experiment_id": experiment_id,
        "name": "old-run",
        "status": "completed",
        "user": "bob",
        "started_at": STARTED,
        "ended_at": ENDED,
        **fields,
    }


class TestImportRun:
    async def test_the_run_keeps_its_id_times_and_status(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        body = imported(experiment["id"], description="notes")
        response = await client.post("/api/v1/import/runs", json=body)
        assert response.status_code == 201, response.text
        run = (await client.get(f"/api/v1/runs/{body['id']}")).json()
        assert (run["id"], run["name"], run["status"], run["user"], run["description"]) == (
            str(uuid.UUID(body["id"])),
            "old-run",
            "completed",
            "bob",
            "notes",
        )
        assert (run["started_at"], run["ended_at"]) == (
            "2021-03-04T05:06:07.123000Z",
            "2021-03-04T06:00:00.456000Z",
        )
        ml = await client.get("/api/2.0/mlflow/runs/get", params={"run_id": body["id"]})
        info = ml.json()["run"]["info"]
        assert (info["run_id"], info["status"], info["start_time"], info["end_time"]) == (
            body["id"],
            "FINISHED",
            1614834367123,
            1614837600456,
        )

    async def test_sending_it_again_changes_nothing_but_what_differs(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        body = imported(experiment["id"], status="running", ended_at=None)
        assert (await client.post("/api/v1/import/runs", json=body)).status_code == 201
        batch = {"metrics": [{"key": "loss", "value": "NaN", "step": 3, "timestamp": 5}]}
        logged = await client.post(f"/api/v1/runs/{body['id']}/batch", json=batch)
        assert logged.status_code == 200, logged.text
        again = await client.post(
            "/api/v1/import/runs", json={**body, "status": "failed", "ended_at": ENDED}
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "failed"
        assert again.json()["metrics"]["loss"]["value"] == "NaN"
        page = await client.get(f"/api/v1/experiments/{experiment['id']}/runs")
        assert page.json()["total"] == 1

    async def test_a_deleted_run_sent_again_is_restored(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        body = imported(experiment["id"])
        await client.post("/api/v1/import/runs", json=body)
        assert (await client.delete(f"/api/v1/runs/{body['id']}")).status_code == 204
        assert (await client.post("/api/v1/import/runs", json=body)).status_code == 200
        assert (await client.get(f"/api/v1/runs/{body['id']}")).status_code == 200

    async def test_the_parent_link_is_kept_within_the_experiment(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        parent = imported(experiment["id"])
        await client.post("/api/v1/import/runs", json=parent)
        child = imported(experiment["id"], parent_run_id=parent["id"])
        response = await client.post("/api/v1/import/runs", json=child)
        assert response.json()["parent_run_id"] == str(uuid.UUID(parent["id"]))
        elsewhere = await create_experiment(client)
        orphan = imported(elsewhere["id"], parent_run_id=parent["id"])
        assert (await client.post("/api/v1/import/runs", json=orphan)).json()[
            "parent_run_id"
        ] is None

    async def test_an_id_taken_in_another_experiment_is_a_409(
        self, client: httpx.AsyncClient
    ) -> None:
        one, other = await create_experiment(client), await create_experiment(client)
        run = await create_run(client, one["id"])
        response = await client.post(
            "/api/v1/import/runs", json=imported(other["id"], id=run["id"])
        )
        assert response.status_code == 409
        assert run["id"] in response.json()["detail"]
        assert (await client.get(f"/api/v1/runs/{run['id']}")).json()["experiment_id"] == one["id"]

    async def test_bad_input_names_the_field(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        backwards = imported(experiment["id"], ended_at="2020-01-01T00:00:00Z")
        response = await client.post("/api/v1/import/runs", json=backwards)
        assert response.status_code == 422
        assert "ended_at" in response.text
        missing = await client.post(
            "/api/v1/import/runs", json=imported("00000000-0000-0000-0000-00000000abcd")
        )
        assert missing.status_code == 404


class TestOnlyAdminsImport:
    async def test_a_member_is_refused_even_in_its_own_experiment(
        self, secured: tuple[Server, Keys]
    ) -> None:
        server, keys = secured
        created = await server.client.post(
            "/api/2.0/mlflow/experiments/create",
            json={"name": "mine"},
            headers=as_key(keys.owner),
        )
        experiment = created.json()["experiment_id"]
        body = imported(experiment)
        refused = await server.client.post(
            "/api/v1/import/runs", json=body, headers=as_key(keys.owner)
        )
        assert refused.status_code == 403
        got = await server.client.get(f"/api/v1/runs/{body['id']}", headers=as_key(keys.owner))
        assert got.status_code == 404
        allowed = await server.client.post(
            "/api/v1/import/runs", json=body, headers=as_key(keys.admin)
        )
        assert allowed.status_code == 201, allowed.text
