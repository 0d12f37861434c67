"""The experiments resource of /api/v1, on SQLite and on PostgreSQL + Redis."""

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest

from tests.factories import create_experiment, create_run, unique_name

API = "/api/v1/experiments"
MISSING = "00000000-0000-0000-0000-000000000000"


class TestCreate:
    async def test_returns_201_with_the_stored_experiment(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            API, json={"name": "My-Exp_1", "owner": "alice", "description": "d"}
        )
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "my-exp_1"  # lowercased
        assert body["owner"] == "alice"
        assert body["status"] == "created"
        assert body["run_count"] == 0 and body["runs"] == []
        uuid.UUID(body["id"])
        fetched = (await client.get(f"{API}/{body['id']}")).json()
        assert fetched == body

    @pytest.mark.parametrize(
        "name",
        ["has space", "dot.name", "slash/name", "ünïcode", "emoji😀", "", "x" * 101, "tab\tname"],
    )
    async def test_name_rules(self, client: httpx.AsyncClient, name: str) -> None:
        response = await client.post(API, json={"name": name, "owner": "alice"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "name"]

    async def test_missing_owner_is_422_naming_the_field(self, client: httpx.AsyncClient) -> None:
        response = await client.post(API, json={"name": "ok"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "owner"]

    async def test_duplicate_name_is_409(self, client: httpx.AsyncClient) -> None:
        await create_experiment(client, name="dup")
        response = await client.post(API, json={"name": "DUP", "owner": "bob"})
        assert response.status_code == 409
        assert "dup" in response.json()["detail"]

    async def test_racing_creates_one_wins_the_other_gets_409(
        self, client: httpx.AsyncClient
    ) -> None:
        name = unique_name("race")
        responses = await asyncio.gather(
            *(client.post(API, json={"name": name, "owner": f"u{i}"}) for i in range(6))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409, 409, 409]
        listed = (await client.get(API, params={"per_page": 100})).json()
        assert [item["name"] for item in listed["items"]].count(name) == 1


class TestGet:
    async def test_missing_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{API}/{MISSING}")
        assert response.status_code == 404
        assert MISSING in response.json()["detail"]

    async def test_bad_id_is_422(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(f"{API}/not-a-uuid")).status_code == 422

    async def test_includes_its_runs_newest_first(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        first = await create_run(client, experiment["id"], started_at="2026-01-01T00:00:00Z")
        second = await create_run(client, experiment["id"], started_at="2026-01-02T00:00:00Z")
        body = (await client.get(f"{API}/{experiment['id']}")).json()
        assert body["run_count"] == 2
        assert [run["id"] for run in body["runs"]] == [second["id"], first["id"]]
        assert body["runs"][0]["status"] == "running"


class TestList:
    async def test_filters_by_owner_and_status(self, client: httpx.AsyncClient) -> None:
        a = await create_experiment(client, owner="ann")
        b = await create_experiment(client, owner="ann")
        await create_experiment(client, owner="ben")
        await client.patch(f"{API}/{b['id']}", json={"status": "running"})

        by_owner = (await client.get(API, params={"owner": "ann"})).json()
        assert {item["id"] for item in by_owner["items"]} == {a["id"], b["id"]}
        assert by_owner["total"] == 2

        running = (await client.get(API, params={"owner": "ann", "status": "running"})).json()
        assert [item["id"] for item in running["items"]] == [b["id"]]

    async def test_unknown_status_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get(API, params={"status": "sleeping"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "status"]

    @pytest.mark.parametrize("params", [{"per_page": 0}, {"per_page": 101}, {"page": 0}])
    async def test_page_bounds(self, client: httpx.AsyncClient, params: dict[str, int]) -> None:
        assert (await client.get(API, params=params)).status_code == 422

    async def test_pages_never_repeat_or_skip(self, client: httpx.AsyncClient) -> None:
        created = [await create_experiment(client, owner="pager") for _ in range(23)]
        seen: list[str] = []
        page = 1
        while True:
            body = (
                await client.get(API, params={"owner": "pager", "page": page, "per_page": 5})
            ).json()
            assert body["total"] == 23 and body["pages"] == 5 and body["per_page"] == 5
            if not body["items"]:
                break
            seen += [item["id"] for item in body["items"]]
            page += 1
        assert page == 6
        assert sorted(seen) == sorted(e["id"] for e in created)
        assert len(seen) == len(set(seen))
        stamps = [
            (datetime.fromisoformat(e["created_at"]), e["id"])
            for e in sorted(created, key=lambda e: seen.index(e["id"]))
        ]
        assert stamps == sorted(stamps, reverse=True)

    async def test_items_carry_run_count(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client, owner="counter")
        for _ in range(3):
            await create_run(client, experiment["id"])
        body = (await client.get(API, params={"owner": "counter"})).json()
        assert body["items"][0]["run_count"] == 3

    async def test_empty_list_has_zero_pages(self, client: httpx.AsyncClient) -> None:
        body = (await client.get(API, params={"owner": "nobody"})).json()
        assert body == {"items": [], "total": 0, "page": 1, "per_page": 20, "pages": 0}


class TestUpdate:
    async def test_changes_only_the_fields_sent(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client, description="keep me")
        response = await client.patch(f"{API}/{experiment['id']}", json={"status": "running"})
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "running"
        assert body["description"] == "keep me"
        assert body["name"] == experiment["name"]
        assert body["updated_at"] > experiment["updated_at"]

    async def test_empty_patch_changes_only_updated_at(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        body = (await client.patch(f"{API}/{experiment['id']}", json={})).json()
        assert body["updated_at"] > experiment["updated_at"]
        assert {k: v for k, v in body.items() if k != "updated_at"} == {
            k: v for k, v in experiment.items() if k != "updated_at"
        }

    async def test_rename_applies_the_name_rules(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        bad = await client.patch(f"{API}/{experiment['id']}", json={"name": "bad name!"})
        assert bad.status_code == 422
        good = await client.patch(f"{API}/{experiment['id']}", json={"name": "New-Name"})
        assert good.json()["name"] == "new-name"

    async def test_rename_to_a_taken_name_is_409(self, client: httpx.AsyncClient) -> None:
        await create_experiment(client, name="taken")
        experiment = await create_experiment(client)
        response = await client.patch(f"{API}/{experiment['id']}", json={"name": "taken"})
        assert response.status_code == 409
        unchanged = (await client.get(f"{API}/{experiment['id']}")).json()
        assert unchanged["name"] == experiment["name"]

    async def test_null_name_is_422(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        response = await client.patch(f"{API}/{experiment['id']}", json={"name": None})
        assert response.status_code == 422
        assert "name cannot be null" in response.text

    async def test_missing_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(f"{API}/{MISSING}", json={"status": "running"})
        assert response.status_code == 404

    async def test_a_read_after_a_write_sees_it(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        await client.get(f"{API}/{experiment['id']}")  # now cached
        await client.patch(f"{API}/{experiment['id']}", json={"description": "new"})
        assert (await client.get(f"{API}/{experiment['id']}")).json()["description"] == "new"


class TestDelete:
    async def test_delete_is_204_and_hides_the_experiment_and_its_runs(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        response = await client.delete(f"{API}/{experiment['id']}")
        assert response.status_code == 204 and response.content == b""
        assert (await client.get(f"{API}/{experiment['id']}")).status_code == 404
        assert (await client.get(f"/api/v1/runs/{run['id']}")).status_code == 404
        listed = (await client.get(API)).json()
        assert experiment["id"] not in [item["id"] for item in listed["items"]]
        assert (await client.delete(f"{API}/{experiment['id']}")).status_code == 404

    async def test_deleted_name_can_be_reused_and_restore_then_conflicts(
        self, client: httpx.AsyncClient
    ) -> None:
        old = await create_experiment(client, name="reuse")
        await client.delete(f"{API}/{old['id']}")
        await create_experiment(client, name="reuse")
        response = await client.post(f"{API}/{old['id']}/restore")
        assert response.status_code == 409

    async def test_restore_brings_back_experiment_and_runs(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await client.delete(f"{API}/{experiment['id']}")
        restored = await client.post(f"{API}/{experiment['id']}/restore")
        assert restored.status_code == 200
        assert restored.json()["run_count"] == 1
        assert (await client.get(f"/api/v1/runs/{run['id']}")).status_code == 200

    async def test_purge_removes_everything_for_good(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        response = await client.delete(f"{API}/{experiment['id']}", params={"purge": "true"})
        assert response.status_code == 204
        assert (await client.post(f"{API}/{experiment['id']}/restore")).status_code == 404
        assert (await client.get(f"/api/v1/runs/{run['id']}")).status_code == 404
        assert (await client.post(f"/api/v1/runs/{run['id']}/restore")).status_code == 404

    async def test_purge_of_a_soft_deleted_experiment(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        await client.delete(f"{API}/{experiment['id']}")
        purged = await client.delete(f"{API}/{experiment['id']}", params={"purge": "true"})
        assert purged.status_code == 204
        assert (await client.post(f"{API}/{experiment['id']}/restore")).status_code == 404
