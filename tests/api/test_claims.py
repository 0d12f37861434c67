"""What the README and docs/api-tracking.md promise about limits, names, rate limiting and key
revocation, checked through the API as a client sees it."""

from typing import Any

import httpx
import pytest

from tests.api.access import as_key, first_admin_key
from tests.conftest import Backend, Server, start_server, stop_server
from tests.factories import create_experiment, create_run

MLFLOW = "/api/2.0/mlflow"


async def new_run(client: httpx.AsyncClient) -> dict[str, Any]:
    experiment = await create_experiment(client)
    return await create_run(client, experiment["id"])


def batch_of(field: str, count: int) -> dict[str, Any]:
    if field == "metrics":
        return {"metrics": [{"key": "m", "value": 1.0, "step": i} for i in range(count)]}
    return {field: {f"k{i}": "v" for i in range(count)}}


BATCH_LIMITS = [
    ("metrics", 10_000, "metric points"),
    ("params", 1000, "params"),
    ("tags", 1000, "tags"),
]


class TestBatchLimits:
    """A batch past a limit is a 413 that names the field, the limit and the count, and does
    not echo the batch back (a 422 used to return every point: 398 KB for 10,001)."""

    @pytest.mark.parametrize(("field", "limit", "what"), BATCH_LIMITS)
    async def test_one_past_the_limit_is_a_short_413(
        self, client: httpx.AsyncClient, field: str, limit: int, what: str
    ) -> None:
        run = await new_run(client)
        response = await client.post(
            f"/api/v1/runs/{run['id']}/batch", json=batch_of(field, limit + 1)
        )
        assert response.status_code == 413
        assert response.json() == {
            "detail": f"{field}: a batch holds at most {limit} {what}, got {limit + 1}; "
            "split them across requests"
        }
        stored = (await client.get(f"/api/v1/runs/{run['id']}")).json()
        assert stored[field] == {}

    @pytest.mark.parametrize(("field", "limit", "what"), BATCH_LIMITS)
    async def test_the_limit_itself_is_accepted(
        self, client: httpx.AsyncClient, field: str, limit: int, what: str
    ) -> None:
        run = await new_run(client)
        response = await client.post(f"/api/v1/runs/{run['id']}/batch", json=batch_of(field, limit))
        assert response.status_code == 200, response.text[:500]
        assert response.json()[field] == limit

    async def test_without_a_key_it_is_401_before_any_size_check(
        self, secured: tuple[Server, Any]
    ) -> None:
        server, _ = secured
        response = await server.client.post(
            f"/api/v1/runs/{'0' * 32}/batch", json=batch_of("metrics", 10_001)
        )
        assert response.status_code == 401


class TestExperimentNameFilter:
    """`?name=` matches case-insensitively, so MLflow's names (which keep their case) are
    found; it used to lowercase the filter and compare exactly, missing them."""

    async def test_an_mlflow_name_with_capitals_and_a_space_is_found(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await client.post(f"{MLFLOW}/experiments/create", json={"name": "Quick Start"})
        assert created.status_code == 200, created.text
        await client.post(f"{MLFLOW}/experiments/create", json={"name": "Quick Start 2"})
        for spelling in ("Quick Start", "quick start", "QUICK START"):
            page = (await client.get("/api/v1/experiments", params={"name": spelling})).json()
            assert [item["name"] for item in page["items"]] == ["Quick Start"], spelling
            assert page["items"][0]["id"].replace("-", "") == created.json()["experiment_id"]

    async def test_a_v1_name_is_found_whatever_the_case_of_the_filter(
        self, client: httpx.AsyncClient
    ) -> None:
        await create_experiment(client, name="Mnist-Small")
        page = (await client.get("/api/v1/experiments", params={"name": "MNIST-small"})).json()
        assert [item["name"] for item in page["items"]] == ["mnist-small"]
        none = (await client.get("/api/v1/experiments", params={"name": "mnist"})).json()
        assert none["items"] == [] and none["total"] == 0


class TestRateLimitOff:
    """`0` for RATE_LIMIT_PER_SECOND or RATE_LIMIT_BURST turns the limit off (a burst of 0
    used to stop the server at start)."""

    @pytest.mark.parametrize(
        "setting", [{"rate_limit_per_second": 0}, {"rate_limit_burst": 0}], ids=["rate", "burst"]
    )
    async def test_many_requests_and_no_429(
        self, sqlite_backend: Backend, setting: dict[str, float]
    ) -> None:
        key = await first_admin_key(sqlite_backend)
        settings = sqlite_backend.settings(
            auth_enabled=True, **{"rate_limit_per_second": 0.5, "rate_limit_burst": 3, **setting}
        )
        server = await start_server(settings, sqlite_backend)
        try:
            statuses = [
                (await server.client.get("/api/v1/me", headers=as_key(key))).status_code
                for _ in range(50)
            ]
        finally:
            await stop_server(server)
        assert statuses == [200] * 50


class TestKeyRevocation:
    """`DELETE /api/v1/keys/{id}` answers 200 with the revoked key (the SDK's
    `client.keys.revoke` returns it), and the key is refused from then on."""

    async def test_revoking_answers_the_key_and_the_key_stops_working(
        self, secured: tuple[Server, Any]
    ) -> None:
        server, keys = secured
        admin = as_key(keys.admin)
        listed = (await server.client.get("/api/v1/keys", headers=admin)).json()
        member_key = next(key for key in listed if key["user_id"] == keys.member_id)
        response = await server.client.delete(f"/api/v1/keys/{member_key['id']}", headers=admin)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == member_key["id"] and body["revoked_at"] is not None
        assert "key" not in body
        refused = await server.client.get("/api/v1/me", headers=as_key(keys.member))
        assert refused.status_code == 401
        again = await server.client.delete(f"/api/v1/keys/{member_key['id']}", headers=admin)
        assert (again.status_code, again.json()) == (200, body)
