"""The admin-only import routes over real HTTP: a logged model keeps its `m-…` id and a
registered model its version numbers; sending either again changes nothing; what cannot be
kept is refused naming the field, and nothing of a refused request stays."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk.live_server import LiveServer

ML = "/api/2.0/mlflow"
WHEN = "2021-06-01T12:00:00+00:00"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("model-imports"))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _experiment(http: httpx.Client) -> str:
    created = http.post(f"{ML}/experiments/create", json={"name": f"e-{uuid.uuid4().hex}"})
    assert created.status_code == 200, created.text
    return str(created.json()["experiment_id"])


def _run(http: httpx.Client, experiment: str) -> str:
    created = http.post(f"{ML}/runs/create", json={"experiment_id": experiment})
    assert created.status_code == 200, created.text
    return str(created.json()["run"]["info"]["run_id"])


def _logged(experiment: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"m-{uuid.uuid4().hex}",
        "experiment_id": experiment,
        "name": "regressor",
        "created_at": WHEN,
        "updated_at": WHEN,
        **fields,
    }


def _version(number: int, source: str = "s3://bucket/model", **fields: Any) -> dict[str, Any]:
    return {
        "version": number,
        "source": source,
        "created_at": WHEN,
        "updated_at": WHEN,
        **fields,
    }


def _registered(name: str, versions: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"name": name, "versions": versions, "created_at": WHEN, "updated_at": WHEN, **fields}


class TestLoggedModels:
    def test_the_id_is_kept_and_a_resend_changes_nothing(self, http: httpx.Client) -> None:
        experiment = _experiment(http)
        run = _run(http, experiment)
        body = _logged(
            experiment,
            source_run_id=run,
            params={"fit": "1"},
            tags={"team": "pricing"},
            metrics=[{"key": "rmse", "value": "NaN", "timestamp": 5, "step": 1, "run_id": run}],
        )
        created = http.post("/api/v1/import/logged-models", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["artifact_location"].endswith(f"/models/{body['id']}/artifacts")
        seen = http.get(f"{ML}/logged-models/{body['id']}").json()["model"]

        again = http.post("/api/v1/import/logged-models", json=body)
        assert again.status_code == 200, again.text
        assert http.get(f"{ML}/logged-models/{body['id']}").json()["model"] == seen
        assert seen["info"]["source_run_id"] == run
        assert seen["info"]["creation_timestamp_ms"] == 1622548800000
        assert [(m["key"], m["step"]) for m in seen["data"]["metrics"]] == [("rmse", 1)]
        listed = http.get(f"/api/v1/runs/{run}/logged-models").json()
        assert [model["id"] for model in listed] == [body["id"]]

    def test_an_id_of_another_experiment_is_a_409(self, http: httpx.Client) -> None:
        body = _logged(_experiment(http))
        assert http.post("/api/v1/import/logged-models", json=body).status_code == 201
        moved = http.post(
            "/api/v1/import/logged-models", json={**body, "experiment_id": _experiment(http)}
        )
        assert moved.status_code == 409
        assert body["id"] in moved.json()["detail"]

    def test_an_id_mlflow_would_not_give_is_refused_naming_the_field(
        self, http: httpx.Client
    ) -> None:
        refused = http.post(
            "/api/v1/import/logged-models", json=_logged(_experiment(http), id="../etc")
        )
        assert refused.status_code == 422
        assert "id" in str(refused.json()["detail"])


class TestRegisteredModels:
    def test_numbers_are_kept_and_the_next_create_continues_after_them(
        self, http: httpx.Client
    ) -> None:
        name = f"model {uuid.uuid4().hex[:8]}"
        body = _registered(
            name,
            [_version(3, tags={"k": "v"}), _version(7, description="seventh", stage="staging")],
            aliases={"champion": 7},
            tags={"team": "pricing"},
        )
        created = http.post("/api/v1/import/registered-models", json=body)
        assert created.status_code == 201, created.text
        assert (created.json()["aliases"], created.json()["tags"]) == (
            {"champion": 7},
            {"team": "pricing"},
        )
        again = http.post("/api/v1/import/registered-models", json=body)
        assert again.status_code == 200, again.text
        listed = http.get(f"/api/v1/models/{name}/versions").json()["items"]
        assert [(v["version"], v["stage"], v["tags"]) for v in listed] == [
            (7, "Staging", {}),
            (3, "None", {"k": "v"}),
        ]
        made = http.post(f"{ML}/model-versions/create", json={"name": name, "source": "s3://b/m"})
        assert made.json()["model_version"]["version"] == "8"

    def test_an_alias_to_a_version_not_here_keeps_nothing(self, http: httpx.Client) -> None:
        name = f"model-{uuid.uuid4().hex[:8]}"
        refused = http.post(
            "/api/v1/import/registered-models",
            json=_registered(name, [_version(1)], aliases={"champion": 2}),
        )
        assert refused.status_code == 404
        assert "champion" in refused.json()["detail"]
        assert http.get(f"/api/v1/models/{name}").status_code == 404

    def test_a_source_naming_a_run_not_here_names_the_version(self, http: httpx.Client) -> None:
        name = f"model-{uuid.uuid4().hex[:8]}"
        missing = uuid.uuid4().hex
        refused = http.post(
            "/api/v1/import/registered-models",
            json=_registered(name, [_version(2, f"runs:/{missing}/model")]),
        )
        assert refused.status_code == 404
        assert "versions[0] (version 2)" in refused.json()["detail"]
        assert http.get(f"/api/v1/models/{name}").status_code == 404

    def test_a_runs_source_resolves_to_the_runs_files_here(
        self, http: httpx.Client, tmp_path: Path
    ) -> None:
        experiment = _experiment(http)
        run = _run(http, experiment)
        name = f"model-{uuid.uuid4().hex[:8]}"
        body = _registered(name, [_version(1, f"runs:/{run}/model", run_id=run)])
        assert http.post("/api/v1/import/registered-models", json=body).status_code == 201
        uri = http.get(
            f"{ML}/model-versions/get-download-uri", params={"name": name, "version": "1"}
        ).json()["artifact_uri"]
        assert uri.endswith(f"/{run}/artifacts/model")


class TestTimes:
    def test_a_time_without_a_zone_is_refused_naming_the_field(self, http: httpx.Client) -> None:
        """A run's `started_at` without a zone was a 500 (the database layer refuses it)."""
        experiment = http.get(f"{ML}/experiments/get", params={"experiment_id": "0"})
        assert experiment.status_code == 200
        body = {
            "id": uuid.uuid4().hex,
            "experiment_id": "0" * 32,
            "name": "naive",
            "status": "completed",
            "started_at": "2020-01-01T00:00:00",
        }
        refused = http.post("/api/v1/import/runs", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "started_at"]
        naive = _logged("0" * 32, created_at="2020-01-01T00:00:00")
        refused = http.post("/api/v1/import/logged-models", json=naive)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "created_at"]
