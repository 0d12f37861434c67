"""A page of search results shows each run exactly as reading that run does.

Search pages are rendered straight from the database's rows (no model per run); reading one
run goes through the models. Both wires, both databases, with what is easy to get wrong when
writing JSON by hand: NaN and the infinities, a run without an end, without a user, with a
parent, with inputs, and a mix of params and tags.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mltrail_server.main import create_app
from tests.conftest import Backend

API = "/api/2.0/mlflow"
OPEN_SETTINGS: dict[str, Any] = {
    "auth_enabled": False,
    "rate_limit_per_second": 0,
    "log_level": "CRITICAL",
}


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend.settings(**OPEN_SETTINGS))) as client:
        yield client


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def keyed(run: dict[str, Any]) -> dict[str, Any]:
    """An MLflow run with its metrics, params and tags in key order (their order carries no
    meaning, and the database gives no particular one)."""
    data = {
        name: sorted(items, key=lambda item: item["key"]) for name, items in run["data"].items()
    }
    return {**run, "data": data}


def sweep(client: TestClient) -> tuple[str, list[str]]:
    """An experiment with three quite different runs; its id and the runs' ids."""
    name = f"render-{uuid.uuid4().hex[:8]}"
    experiment_id = ok(client.post(f"{API}/experiments/create", json={"name": name}))[
        "experiment_id"
    ]

    def create(**fields: Any) -> str:
        body = {"experiment_id": experiment_id, **fields}
        run_id: str = ok(client.post(f"{API}/runs/create", json=body))["run"]["info"]["run_id"]
        return run_id

    finished = create(run_name="finished", user_id="ana", start_time=1_700_000_000_000)
    metrics = [
        {"key": "nan", "value": "NaN", "timestamp": 1_700_000_000_001, "step": 1},
        {"key": "inf", "value": "Infinity", "timestamp": 1_700_000_000_002, "step": 2},
        {"key": "ninf", "value": "-Infinity", "timestamp": 1_700_000_000_003, "step": 3},
        {"key": "exact", "value": 0.30000000000000004, "timestamp": 1_700_000_000_004, "step": 4},
        {"key": "big", "value": 1.7976931348623157e308, "timestamp": 1_700_000_000_005, "step": 0},
        {"key": "exact", "value": -2.5e-300, "timestamp": 1_700_000_000_006, "step": 5},
    ]
    batch = {
        "run_id": finished,
        "metrics": metrics,
        "params": [{"key": "lr", "value": "0.01"}, {"key": "note", "value": 'é "quoted" \\'}],
        "tags": [{"key": "team", "value": "nlp"}, {"key": "empty", "value": ""}],
    }
    ok(client.post(f"{API}/runs/log-batch", json=batch))
    ok(client.post(f"{API}/runs/update", json={"run_id": finished, "status": "FINISHED"}))
    dataset = {"name": "train", "digest": "2981c147", "source_type": "code", "source": "{}"}
    inputs = {
        "run_id": finished,
        "datasets": [
            {"tags": [{"key": "mlflow.data.context", "value": "train"}], "dataset": dataset}
        ],
        "models": [{"model_id": "m-abc"}],
    }
    ok(client.post(f"{API}/runs/log-inputs", json=inputs))
    child = create(
        run_name="child", tags=[{"key": "mlflow.parentRunId", "value": finished}], start_time=2
    )
    ok(client.post(f"{API}/runs/log-parameter", json={"run_id": child, "key": "lr", "value": "1"}))
    bare = create(start_time=1_700_000_000_009)
    return experiment_id, [finished, child, bare]


def test_mlflow_search_shows_each_run_as_runs_get(client: TestClient) -> None:
    experiment_id, run_ids = sweep(client)
    found = ok(
        client.post(
            f"{API}/runs/search",
            json={"experiment_ids": [experiment_id], "order_by": ["attributes.run_name ASC"]},
        )
    )
    assert "next_page_token" not in found
    by_id = {run["info"]["run_id"]: run for run in found["runs"]}
    assert set(by_id) == set(run_ids)
    for run_id in run_ids:
        got = ok(client.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
        assert keyed(by_id[run_id]) == keyed(got)
    finished = by_id[run_ids[0]]
    values = {metric["key"]: metric["value"] for metric in finished["data"]["metrics"]}
    assert values == {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "exact": -2.5e-300,
        "big": 1.7976931348623157e308,
    }
    assert "end_time" in finished["info"] and "end_time" not in by_id[run_ids[2]]["info"]


def test_v1_search_shows_each_run_as_get_run(client: TestClient) -> None:
    experiment_id, run_ids = sweep(client)
    found = ok(
        client.post(
            "/api/v1/runs/search",
            json={"experiment_ids": [str(uuid.UUID(experiment_id))], "order_by": ["metrics.big"]},
        )
    )
    assert found["next_page_token"] is None
    by_id = {run["id"]: run for run in found["runs"]}
    v1_ids = [str(uuid.UUID(run_id)) for run_id in run_ids]
    assert set(by_id) == set(v1_ids)
    for run_id in v1_ids:
        assert by_id[run_id] == ok(client.get(f"/api/v1/runs/{run_id}"))
    metrics = by_id[v1_ids[0]]["metrics"]
    assert metrics["nan"]["value"] == "NaN" and metrics["inf"]["max"] == "Infinity"
    assert metrics["ninf"]["min"] == "-Infinity"
