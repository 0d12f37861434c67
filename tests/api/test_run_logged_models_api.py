"""/api/v1/runs/{run_id}/logged-models, on SQLite and on PostgreSQL + Redis: the MLflow 3
logged models a run made through MLflow's wire (its own, by `source_run_id`, and those it
logged as outputs), each once, newest first, with their tags and params; 404 for a run
that is not there."""

import uuid

import httpx

from tests.factories import create_experiment, create_run

ML = "/api/2.0/mlflow"


async def _logged_model(client: httpx.AsyncClient, experiment_id: str, **body: object) -> str:
    made = await client.post(
        f"{ML}/logged-models", json={"experiment_id": experiment_id, "name": "model", **body}
    )
    assert made.status_code == 200, made.text
    return str(made.json()["model"]["info"]["model_id"])


async def _run_models(client: httpx.AsyncClient, run_id: str) -> list[dict[str, object]]:
    listed = await client.get(f"/api/v1/runs/{run_id}/logged-models")
    assert listed.status_code == 200, listed.text
    return list(listed.json())


class TestRunLoggedModels:
    async def test_the_runs_own_and_output_models_newest_first(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        other = await create_run(client, experiment["id"])
        first = await _logged_model(
            client,
            experiment["id"],
            name="sklearn-clf",
            model_type="classifier",
            source_run_id=run["id"],
            tags=[{"key": "team", "value": "risk"}],
            params=[{"key": "alpha", "value": "0.5"}],
        )
        # Made by another run, then logged as this run's output (MLflow's log-outputs).
        second = await _logged_model(client, experiment["id"], source_run_id=other["id"])
        outputs = await client.post(
            f"{ML}/runs/outputs", json={"run_id": run["id"], "models": [{"model_id": second}]}
        )
        assert outputs.status_code == 200, outputs.text
        # Both the source and an output of the run: listed once.
        both = await _logged_model(client, experiment["id"], source_run_id=run["id"])
        again = await client.post(
            f"{ML}/runs/outputs", json={"run_id": run["id"], "models": [{"model_id": both}]}
        )
        assert again.status_code == 200, again.text
        await _logged_model(client, experiment["id"], name="elsewhere", source_run_id=other["id"])

        models = await _run_models(client, run["id"])

        assert [m["id"] for m in models] == [both, second, first]
        own = models[2]
        assert own["name"] == "sklearn-clf" and own["model_type"] == "classifier"
        assert own["source_run_id"] == run["id"]
        assert own["tags"] == {"team": "risk"} and own["params"] == {"alpha": "0.5"}
        assert own["status"] == "PENDING"
        assert str(own["artifact_location"]).endswith(f"/models/{first}/artifacts")
        assert models[1]["source_run_id"] == other["id"]
        assert [m["name"] for m in await _run_models(client, other["id"])] == [
            "elsewhere",
            "model",
        ]

    async def test_a_finalized_model_shows_ready_and_a_deleted_one_goes(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        kept = await _logged_model(client, experiment["id"], source_run_id=run["id"])
        gone = await _logged_model(client, experiment["id"], source_run_id=run["id"])
        finalized = await client.patch(
            f"{ML}/logged-models/{kept}", json={"model_id": kept, "status": "LOGGED_MODEL_READY"}
        )
        assert finalized.status_code == 200, finalized.text
        deleted = await client.delete(f"{ML}/logged-models/{gone}")
        assert deleted.status_code == 200, deleted.text

        models = await _run_models(client, run["id"])

        assert [(m["id"], m["status"]) for m in models] == [(kept, "READY")]

    async def test_a_run_without_models_is_an_empty_list(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        assert await _run_models(client, run["id"]) == []

    async def test_an_unknown_run_is_a_404(self, client: httpx.AsyncClient) -> None:
        missing = await client.get(f"/api/v1/runs/{uuid.uuid4()}/logged-models")
        assert missing.status_code == 404
        assert "not found" in missing.text.lower()

    async def test_the_openapi_document_has_the_route(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        responses = paths["/api/v1/runs/{run_id}/logged-models"]["get"]["responses"]
        assert {"200", "404"} <= set(responses)
