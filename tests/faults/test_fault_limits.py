"""Requests built to hold the database: a huge log-inputs batch, a filter of hundreds of
conditions, a LIKE pattern that backtracks, a statement that runs too long. Each is answered
with a 4xx naming the limit, or a 503 that says the query took too long — never a 500 and
never a server tied up for half a minute."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from mltrail_server.config import get_settings
from mltrail_server.mlflow.errors import render_exception
from mltrail_server.routes.errors import handle_database_error
from tests.conftest import Backend, start_server, stop_server
from tests.factories import create_experiment
from tests.faults.conftest import LiveServer

API = "/api/2.0/mlflow"
V1_SEARCH = "/api/v1/runs/search"
TOO_MANY_CONDITIONS = " AND ".join(f"params.p{i} = 'v'" for i in range(300))
FIFTY_CONDITIONS = " AND ".join(f"params.p{i} = 'v'" for i in range(50))
# Far past the point where a LIKE pattern of repeated '%' used to backtrack for minutes.
BACKTRACKING_STATUS_FILTER = "attributes.status LIKE '" + "%" * 2000 + "x'"
SEARCH_DEADLINE_SECONDS = 60.0


async def new_mlflow_run(client: httpx.AsyncClient) -> tuple[str, str]:
    created = await client.post(
        f"{API}/experiments/create", json={"name": f"limits-{time.monotonic_ns()}"}
    )
    assert created.status_code == 200, created.text
    experiment_id: str = created.json()["experiment_id"]
    run = await client.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
    assert run.status_code == 200, run.text
    run_id: str = run.json()["run"]["info"]["run_id"]
    return experiment_id, run_id


def mlflow_400(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    message: str = body["message"]
    return message


def dataset(number: int, tags: int = 1) -> dict[str, Any]:
    return {
        "tags": [{"key": f"mlflow.data.tag{i}", "value": "training"} for i in range(tags)],
        "dataset": {
            "name": f"set-{number}",
            "digest": f"{number:08x}",
            "source_type": "code",
            "source": "{}",
        },
    }


class TestLogInputsIsBounded:
    async def test_ten_thousand_datasets_are_a_400_naming_the_limit(
        self, client: httpx.AsyncClient
    ) -> None:
        _, run_id = await new_mlflow_run(client)
        body = {"run_id": run_id, "datasets": [dataset(i) for i in range(10_000)]}
        message = mlflow_400(await client.post(f"{API}/runs/log-inputs", json=body))
        assert "datasets" in message
        assert "at most 1000 datasets per request, got 10000" in message

    async def test_a_thousand_datasets_are_stored(self, client: httpx.AsyncClient) -> None:
        _, run_id = await new_mlflow_run(client)
        body = {"run_id": run_id, "datasets": [dataset(i) for i in range(1000)]}
        response = await client.post(f"{API}/runs/log-inputs", json=body)
        assert response.status_code == 200, response.text
        run = (await client.get(f"{API}/runs/get", params={"run_id": run_id})).json()["run"]
        assert len(run["inputs"]["dataset_inputs"]) == 1000

    async def test_too_many_tags_on_one_input_are_a_400(self, client: httpx.AsyncClient) -> None:
        _, run_id = await new_mlflow_run(client)
        body = {"run_id": run_id, "datasets": [dataset(0, tags=101)]}
        message = mlflow_400(await client.post(f"{API}/runs/log-inputs", json=body))
        assert "at most 100 tags per dataset input per request, got 101" in message

    async def test_ten_thousand_input_models_are_a_400(self, client: httpx.AsyncClient) -> None:
        _, run_id = await new_mlflow_run(client)
        models = [{"model_id": f"m-{i}"} for i in range(10_000)]
        body = {"run_id": run_id, "models": models}
        message = mlflow_400(await client.post(f"{API}/runs/log-inputs", json=body))
        assert "at most 1000 models per request, got 10000" in message

    async def test_ten_thousand_output_models_are_a_400(self, client: httpx.AsyncClient) -> None:
        _, run_id = await new_mlflow_run(client)
        models = [{"model_id": f"m-{i}", "step": i} for i in range(10_000)]
        body = {"run_id": run_id, "models": models}
        message = mlflow_400(await client.post(f"{API}/runs/outputs", json=body))
        assert "at most 1000 models per request, got 10000" in message


class TestLogBatchKeepsMlflowLimits:
    @pytest.mark.parametrize(
        ("field", "count", "limit"),
        [("metrics", 1001, 1000), ("params", 101, 100), ("tags", 101, 100)],
    )
    async def test_past_the_limit_is_a_400_naming_it(
        self, client: httpx.AsyncClient, field: str, count: int, limit: int
    ) -> None:
        _, run_id = await new_mlflow_run(client)
        if field == "metrics":
            items: list[dict[str, Any]] = [
                {"key": "loss", "value": 0.5, "timestamp": 1, "step": i} for i in range(count)
            ]
        else:
            items = [{"key": f"k{i}", "value": "v"} for i in range(count)]
        response = await client.post(f"{API}/runs/log-batch", json={"run_id": run_id, field: items})
        message = mlflow_400(response)
        assert f"at most {limit} {field}. Got {count} {field}" in message


class TestSearchFilterIsBounded:
    async def test_v1_search_of_300_conditions_names_the_field_and_limit(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment_id = (await create_experiment(client))["id"]
        body = {"experiment_ids": [experiment_id], "filter": TOO_MANY_CONDITIONS}
        response = await client.post(V1_SEARCH, json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.startswith("filter: the filter has more than 50 conditions")
        assert "at most 50 are allowed" in detail

    async def test_mlflow_search_of_300_conditions_names_the_field_and_limit(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment_id, _ = await new_mlflow_run(client)
        body = {"experiment_ids": [experiment_id], "filter": TOO_MANY_CONDITIONS}
        message = mlflow_400(await client.post(f"{API}/runs/search", json=body))
        assert message.startswith("filter: the filter has more than 50 conditions")

    async def test_experiment_search_of_300_conditions_is_a_400(
        self, client: httpx.AsyncClient
    ) -> None:
        condition = " AND ".join(f"tags.t{i} = 'v'" for i in range(300))
        body = {"max_results": 10, "filter": condition}
        message = mlflow_400(await client.post(f"{API}/experiments/search", json=body))
        assert message.startswith("filter: the filter has more than 50 conditions")

    async def test_a_filter_past_10000_characters_is_a_400(self, client: httpx.AsyncClient) -> None:
        experiment_id, _ = await new_mlflow_run(client)
        long_filter = "params.p = '" + "x" * 10_000 + "'"
        body = {"experiment_ids": [experiment_id], "filter": long_filter}
        message = mlflow_400(await client.post(f"{API}/runs/search", json=body))
        assert f"filter: the filter is {len(long_filter)} characters long" in message
        assert "at most 10000" in message

    async def test_more_than_20_order_by_clauses_are_a_400(self, client: httpx.AsyncClient) -> None:
        experiment_id, _ = await new_mlflow_run(client)
        order_by = [f"metrics.m{i} DESC" for i in range(21)]
        body = {"experiment_ids": [experiment_id], "order_by": order_by}
        message = mlflow_400(await client.post(f"{API}/runs/search", json=body))
        assert message == "order_by: 21 order_by clauses; at most 20 are allowed"

    async def test_fifty_conditions_still_search(self, client: httpx.AsyncClient) -> None:
        experiment_id, run_id = await new_mlflow_run(client)
        params = [{"key": f"p{i}", "value": "v"} for i in range(50)]
        logged = await client.post(
            f"{API}/runs/log-batch", json={"run_id": run_id, "params": params}
        )
        assert logged.status_code == 200, logged.text
        body = {"experiment_ids": [experiment_id], "filter": FIFTY_CONDITIONS}
        response = await client.post(f"{API}/runs/search", json=body)
        assert response.status_code == 200, response.text
        assert [run["info"]["run_id"] for run in response.json()["runs"]] == [run_id]


class TestBacktrackingStatusPatternAnswers:
    def test_repeated_percent_signs_do_not_hold_the_server(
        self, tmp_path: Path, servers: list[LiveServer]
    ) -> None:
        """`status LIKE '%%%…x'` was matched in the event loop by a regular expression that
        backtracked for ages; on a live server the answer must come (a deadline, not a
        timing assertion: the fixed server answers at once, the old one never did)."""
        server = LiveServer(tmp_path, {})
        servers.append(server)
        server.start()
        with httpx.Client(base_url=server.url, timeout=SEARCH_DEADLINE_SECONDS) as http:
            created = http.post(f"{API}/experiments/create", json={"name": "backtrack"})
            experiment_id = created.json()["experiment_id"]
            http.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
            body = {"experiment_ids": [experiment_id], "filter": BACKTRACKING_STATUS_FILTER}
            response = http.post(f"{API}/runs/search", json=body)
        assert response.status_code == 200, response.text
        assert response.json().get("runs", []) == []


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": []})


@pytest.fixture
def statement_timeout_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DATABASE_STATEMENT_TIMEOUT_SECONDS=0.5 for the settings the process reads."""
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# A statement that runs for seconds: PostgreSQL sleeps, SQLite counts to a billion.
SLOW_STATEMENT = {
    "postgresql": "SELECT pg_sleep(5)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000000) "
    "SELECT count(*) FROM c",
}


class TestStatementTimeout:
    async def test_a_statement_past_the_timeout_is_stopped_and_answered_503(
        self, backend: Backend, statement_timeout_env: None
    ) -> None:
        server = await start_server(
            backend.settings(database_statement_timeout_seconds=0.5), backend
        )
        try:
            database, _ = await server.app.state.runtime.resources()  # type: ignore[attr-defined]
            assert database.statement_timeout == 0.5
            with pytest.raises(DBAPIError) as raised:
                async with database.session() as session:
                    await session.execute(text(SLOW_STATEMENT[database.dialect]))
            # The connection is fine afterwards: only the statement was stopped.
            async with database.session() as session:
                assert (await session.execute(text("SELECT 1"))).scalar() == 1
        finally:
            await stop_server(server)

        mlflow = render_exception(raised.value)
        assert mlflow is not None
        assert mlflow.status_code == 503
        assert mlflow.headers["Retry-After"] == "2"
        assert b"The query took too long" in mlflow.body
        assert b'"error_code":"TEMPORARILY_UNAVAILABLE"' in mlflow.body

        v1 = await handle_database_error(_request(), raised.value)
        assert v1.status_code == 503
        assert v1.headers["Retry-After"] == "2"
        assert b"The query took too long" in v1.body
        assert b"DATABASE_STATEMENT_TIMEOUT_SECONDS" in v1.body
