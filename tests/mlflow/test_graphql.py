"""`/graphql` as only ours answers it (what MLflow's server answers alike is compared in
test_conformance.py): runs logged by the real mlflow client read back through the UI's run
page query, bounds MLflow does not have, and sibling fields that all read through one
database session, on SQLite and PostgreSQL."""

import math
from typing import Any

import httpx
from mlflow.tracking import MlflowClient

from mltrail_server.mlflow.graphql_limits import MAX_QUERY_CHARS, MAX_REPEATS, MAX_TOKENS
from tests.mlflow import graphql_queries as gq
from tests.mlflow.conftest import unique

API = "/api/2.0/mlflow"


def answer(http: httpx.Client, body: Any) -> dict[str, Any]:
    response = http.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def get_run(http: httpx.Client, run_id: str) -> dict[str, Any]:
    found = answer(http, gq.body(gq.GET_RUN, "GetRun", {"data": {"runId": run_id}}))
    assert found["errors"] is None, found
    run: dict[str, Any] = found["data"]["mlflowGetRun"]["run"]
    return run


class TestTheRunPageQuery:
    def test_reads_what_the_mlflow_client_logged(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        experiment_id = client.create_experiment(unique("GraphQL"))
        run = client.create_run(experiment_id, run_name="page")
        run_id = run.info.run_id
        client.log_param(run_id, "lr", "0.01")
        client.log_metric(run_id, "loss", 0.5, step=3)
        client.log_metric(run_id, "diverged", math.nan, step=1)
        client.set_terminated(run_id, "FINISHED")
        name = unique("graphql-model").replace(" ", "-")
        client.create_registered_model(name)
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run_id)

        page = get_run(v1, run_id)

        assert page["info"]["status"] == "FINISHED"
        assert page["info"]["endTime"] == str(client.get_run(run_id).info.end_time)
        assert page["experiment"]["experimentId"] == experiment_id
        metrics = {m["key"]: m for m in page["data"]["metrics"]}
        # int64 values are strings (JavaScript numbers would round them); NaN is null.
        assert metrics["loss"]["value"] == 0.5 and metrics["loss"]["step"] == "3"
        assert metrics["diverged"]["value"] is None
        assert {"key": "lr", "value": "0.01"} in page["data"]["params"]
        assert page["modelVersions"] == [
            {
                "status": "READY",
                "version": "1",
                "name": name,
                "source": f"{run.info.artifact_uri}/model",
            }
        ]

    def test_a_nan_point_in_the_charts_is_null_without_an_error(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        """MLflow's answer adds an error for each NaN point of the charts' query; ours reads
        it as the run page does: a null value."""
        run_id = client.create_run(client.create_experiment(unique("GraphQL NaN"))).info.run_id
        client.log_metric(run_id, "loss", math.nan, step=0)
        client.log_metric(run_id, "loss", 1.0, step=1)
        variables = {"data": {"runIds": [run_id], "metricKey": "loss", "maxResults": 320}}
        found = answer(
            v1,
            gq.body(gq.GET_METRIC_HISTORY_BULK_INTERVAL, "GetMetricHistoryBulkInterval", variables),
        )
        assert found["errors"] is None
        points = found["data"]["mlflowGetMetricHistoryBulkInterval"]["metrics"]
        assert [(p["step"], p["value"]) for p in points] == [("0", None), ("1", 1.0)]


class TestOneSessionForEveryField:
    def test_ten_runs_in_one_query(self, client: MlflowClient, v1: httpx.Client) -> None:
        """Ten aliased root fields, each with the run's experiment and versions: resolved one
        after another on the request's session, not at once."""
        experiment_id = client.create_experiment(unique("GraphQL ten"))
        runs = [client.create_run(experiment_id, run_name=f"r{i}").info.run_id for i in range(10)]
        fields = " ".join(
            f'r{i}: mlflowGetRun(input: {{runId: "{run_id}"}}) '
            "{ run { info { runName } experiment { experimentId } modelVersions { name } } }"
            for i, run_id in enumerate(runs)
        )
        found = answer(v1, {"query": "{ " + fields + " }"})
        assert found["errors"] is None, found
        assert [found["data"][f"r{i}"]["run"]["info"]["runName"] for i in range(10)] == [
            f"r{i}" for i in range(10)
        ]
        assert {found["data"][f"r{i}"]["run"]["experiment"]["experimentId"] for i in range(10)} == {
            experiment_id
        }


class TestBoundsOfOurOwn:
    def test_a_query_longer_than_the_bound_is_refused(self, v1: httpx.Client) -> None:
        query = "{ " + " " * MAX_QUERY_CHARS + "__typename }"
        found = answer(v1, {"query": query})
        assert found["data"] is None
        assert found["errors"] == [
            f"Query exceeds maximum length of {MAX_QUERY_CHARS} characters (got {len(query)})"
        ]

    def test_a_query_of_too_many_tokens_is_refused(self, v1: httpx.Client) -> None:
        found = answer(v1, {"query": "{ " + "a " * MAX_TOKENS + "}"})
        assert found["data"] is None
        assert f"more than {MAX_TOKENS} tokens" in found["errors"][0]

    def test_a_field_repeated_at_one_level_past_the_bound_is_refused(
        self, v1: httpx.Client
    ) -> None:
        """Validation compares each two of them: 900 copies would cost 400,000 checks."""
        fields = "runName " * (MAX_REPEATS + 1)
        query = '{ mlflowGetRun(input: {runId: "x"}) { run { info { ' + fields + "} } } }"
        found = answer(v1, {"query": query})
        assert found["data"] is None
        assert found["errors"] == [
            f"Query selects 'runName' {MAX_REPEATS + 1} times at one level; at most {MAX_REPEATS}"
        ]

    def test_a_batch_of_requests_is_a_400_that_says_what_to_send(self, v1: httpx.Client) -> None:
        response = v1.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
        assert response.status_code == 400
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "send one object with 'query'" in response.json()["message"]

    def test_a_body_without_a_query_names_it(self, v1: httpx.Client) -> None:
        response = v1.post("/graphql", json={"variables": {}})
        assert response.status_code == 400
        assert "'query'" in response.json()["message"]
