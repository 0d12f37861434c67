"""The MLflow wire protocol over plain HTTP: what newer or older clients may send, the error
shapes and statuses, artifact paths and limits, and logged models."""

import math
import uuid
from typing import Any

import httpx
import mlflow
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from tests.mlflow.conftest import ARTIFACT_MAX_BYTES, unique

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def mlflow_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    message: str = body["message"]
    return message


def new_run(v1: httpx.Client, **fields: Any) -> tuple[str, str]:
    experiment_id = ok(v1.post(f"{API}/experiments/create", json={"name": unique("Wire")}))[
        "experiment_id"
    ]
    run = ok(v1.post(f"{API}/runs/create", json={"experiment_id": experiment_id, **fields}))
    return experiment_id, run["run"]["info"]["run_id"]


class TestRequests:
    def test_unknown_fields_string_int64_and_numeric_enums(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(
            v1, start_time="1700000000000", run_name="r", future_field={"x": 1}
        )
        ok(
            v1.post(
                f"{API}/runs/log-metric",
                json={
                    "run_id": run_id,
                    "key": "m",
                    "value": "Infinity",
                    "timestamp": "1700000000001",
                    "step": "4",
                    "model_id": "m-123",
                    "dataset_name": "train",
                },
            )
        )
        ok(
            v1.post(
                f"{API}/runs/update",
                json={"run_uuid": run_id, "status": 3, "end_time": 1700000000500},
            )
        )
        run = ok(v1.get(f"{API}/runs/get", params={"run_id": run_id, "run_uuid": run_id}))["run"]
        assert run["info"]["status"] == "FINISHED"
        assert run["info"]["start_time"] == 1_700_000_000_000
        assert run["info"]["end_time"] == 1_700_000_000_500
        assert run["data"]["metrics"] == [
            {"key": "m", "value": "Infinity", "timestamp": 1_700_000_000_001, "step": 4}
        ]
        assert run["inputs"] == {} and run["outputs"] == {}

    def test_missing_and_malformed_fields_are_400(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        message = mlflow_error(
            v1.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        assert "timestamp" in message
        mlflow_error(
            v1.post(
                f"{API}/runs/log-metric",
                json={"run_id": run_id, "key": "m", "value": True, "timestamp": 1},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        mlflow_error(
            v1.post(
                f"{API}/runs/log-batch",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        mlflow_error(
            v1.post(f"{API}/runs/create", json={"experiment_id": "not-an-id"}),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        mlflow_error(
            v1.post(f"{API}/runs/create", json={"experiment_id": uuid.uuid4().hex}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )

    def test_a_key_breaking_the_one_key_rule_is_refused_naming_it(self, v1: httpx.Client) -> None:
        """The rule of the SDK and the v1 API (mltrail.encoding.check_key): "." and a
        trailing newline are refused too, and nothing of the batch is stored."""
        _, run_id = new_run(v1)
        for key in (".", "loss\n", "a//b", "x" * 251):
            point = {"key": key, "value": 1.0, "timestamp": 1, "step": 0}
            response = v1.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [point]})
            message = mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
            assert message.startswith("Invalid metric key"), message
            tag = v1.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": key, "value": "v"})
            assert mlflow_error(tag, 400, "INVALID_PARAMETER_VALUE").startswith("Invalid tag key")
        run = ok(v1.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
        assert "metrics" not in run["data"]  # an empty list is left out, as MLflow does
        assert [tag["key"] for tag in run["data"]["tags"]] == ["mlflow.runName"]

    def test_batch_limits(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
        cases = {
            "metrics": {"metrics": [{**point, "step": i} for i in range(1001)]},
            "params": {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
            "tags": {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
            "total": {
                "metrics": [{**point, "step": i} for i in range(901)],
                "params": [{"key": f"p{i}", "value": "v"} for i in range(100)],
            },
            "duplicate": {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "1"}]},
        }
        for body in cases.values():
            response = v1.post(f"{API}/runs/log-batch", json={"run_id": run_id, **body})
            mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
        run = ok(v1.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]
        assert "metrics" not in run["data"] and "params" not in run["data"]

    def test_text_no_database_can_store_is_a_400(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        for path, body in (
            ("runs/log-parameter", '{"run_id": "%s", "key": "k", "value": "a\\ud800"}'),
            ("runs/set-tag", '{"run_id": "%s", "key": "k", "value": "\\udfff"}'),
            ("experiments/create", '{"name": "x\\ud800 %s"}'),
        ):
            response = v1.post(
                f"{API}/{path}",
                content=(body % run_id).encode(),
                headers={"Content-Type": "application/json"},
            )
            mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
        # PostgreSQL refuses NUL in text; SQLite stores it. Either way, no 5xx.
        response = v1.post(
            f"{API}/runs/set-tag", json={"run_id": run_id, "key": "nul", "value": "a\x00b"}
        )
        assert response.status_code in (200, 400), response.text

    def test_unknown_endpoint(self, v1: httpx.Client) -> None:
        mlflow_error(v1.get(f"{API}/no-such-thing"), 404, "ENDPOINT_NOT_FOUND")
        mlflow_error(v1.post("/api/3.0/mlflow/traces"), 404, "ENDPOINT_NOT_FOUND")

    def test_server_info(self, v1: httpx.Client) -> None:
        info = ok(v1.get("/api/3.0/mlflow/server-info"))
        assert info["store_type"] == "SqlStore"
        assert info["multipart_uploads_enabled"] is False

    def test_v1_keeps_its_own_error_shape(self, v1: httpx.Client) -> None:
        response = v1.get(f"/api/v1/runs/{uuid.uuid4()}")
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


class TestExperimentSearch:
    def test_filters_on_ids_times_and_tags(self, v1: httpx.Client) -> None:
        marker = "m" + uuid.uuid4().hex[:8]  # a letter, so the upper-case name differs
        ids = [
            ok(
                v1.post(
                    f"{API}/experiments/create",
                    json={"name": f"{marker}-{i}", "tags": [{"key": "i", "value": str(i)}]},
                )
            )["experiment_id"]
            for i in range(3)
        ]
        created = ok(v1.get(f"{API}/experiments/get", params={"experiment_id": ids[1]}))
        created_ms = created["experiment"]["creation_time"]

        def names(search_filter: str, **extra: Any) -> list[str]:
            body = {"max_results": 100, "filter": search_filter, **extra}
            found = ok(v1.post(f"{API}/experiments/search", json=body))
            return [e["name"] for e in found.get("experiments", [])]

        assert names(f"experiment_id IN ('{ids[0]}', '{ids[2]}')") == [f"{marker}-2", f"{marker}-0"]
        assert names(f"name LIKE '{marker}%' AND tags.i != '1'", order_by=["name"]) == [
            f"{marker}-0",
            f"{marker}-2",
        ]
        assert f"{marker}-1" in names(f"creation_time >= {created_ms} AND name LIKE '{marker}%'")
        assert names(f"name = '{marker.upper()}-1'") == []  # names are case-sensitive
        assert names(f"name ILIKE '{marker.upper()}-1'") == [f"{marker}-1"]
        for bad in ("name > 'a'", "tags.i > '1'", "lifecycle_stage = 'active'", "name = 'a' OR"):
            response = v1.post(f"{API}/experiments/search", json={"max_results": 1, "filter": bad})
            mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
        mlflow_error(v1.post(f"{API}/experiments/search", json={}), 400, "INVALID_PARAMETER_VALUE")
        by_query = ok(
            v1.get(
                f"{API}/experiments/search",
                params={"max_results": 10, "filter": f"name = '{marker}-0'", "view_type": 3},
            )
        )
        assert [e["experiment_id"] for e in by_query["experiments"]] == [ids[0]]


class TestHistory:
    def test_a_long_series_reads_back_whole_in_pages_of_25000(self, v1: httpx.Client) -> None:
        """60,000 points: in pages of 25,000 (what the client asks for), and all at once
        (no max_results), every point once, in order, with its exact value."""
        _, run_id = new_run(v1)
        logged = [
            {"key": "long", "value": step / 7 - 3000, "timestamp": 5000 + step, "step": step}
            for step in range(60_000)
        ]
        logged[12_345]["value"] = "NaN"
        logged[25_000]["value"] = "-Infinity"
        for start in range(0, len(logged), 1000):  # MLflow's most per batch
            batch = {"run_id": run_id, "metrics": logged[start : start + 1000]}
            ok(v1.post(f"{API}/runs/log-batch", json=batch))
        params: dict[str, Any] = {"run_id": run_id, "metric_key": "long", "max_results": 25_000}
        pages, token = [], None
        while True:
            page = ok(v1.get(f"{API}/metrics/get-history", params={**params, "page_token": token}))
            pages.append(page["metrics"])
            token = page.get("next_page_token")
            if not token:
                break
        assert [len(page) for page in pages] == [25_000, 25_000, 10_000]
        everything = ok(
            v1.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "long"})
        )["metrics"]
        assert everything == [point for page in pages for point in page]
        assert everything == logged

    def test_pages_and_bulk_interval(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        _, other_id = new_run(v1)
        for target in (run_id, other_id):
            metrics = [
                {"key": "loss", "value": step / 10, "timestamp": 1000 + step, "step": step}
                for step in range(30)
            ]
            ok(v1.post(f"{API}/runs/log-batch", json={"run_id": target, "metrics": metrics}))
        first = ok(
            v1.get(
                f"{API}/metrics/get-history",
                params={"run_id": run_id, "metric_key": "loss", "max_results": 20},
            )
        )
        assert len(first["metrics"]) == 20 and first["next_page_token"]
        second = ok(
            v1.get(
                f"{API}/metrics/get-history",
                params={
                    "run_id": run_id,
                    "metric_key": "loss",
                    "max_results": 20,
                    "page_token": first["next_page_token"],
                },
            )
        )
        assert [m["step"] for m in second["metrics"]] == list(range(20, 30))
        assert "next_page_token" not in second
        everything = ok(
            v1.get(f"{API}/metrics/get-history", params={"run_uuid": run_id, "metric_key": "loss"})
        )
        assert len(everything["metrics"]) == 30
        forged = v1.get(
            f"{API}/metrics/get-history",
            params={"run_id": run_id, "metric_key": "loss", "page_token": "not-a-token"},
        )
        assert "'page_token'" in mlflow_error(forged, 400, "INVALID_PARAMETER_VALUE")

        bulk = ok(
            v1.get(
                f"{API}/metrics/get-history-bulk-interval",
                params=[
                    ("run_ids", run_id),
                    ("run_ids", other_id),
                    ("metric_key", "loss"),
                    ("start_step", 0),
                    ("end_step", 29),
                    ("max_results", 10),
                ],
            )
        )
        by_run: dict[str, list[int]] = {}
        for metric in bulk["metrics"]:
            by_run.setdefault(metric["run_id"], []).append(metric["step"])
        assert set(by_run) == {run_id, other_id}
        assert all(len(steps) <= 10 for steps in by_run.values())
        assert max(by_run[run_id]) == 29
        mlflow_error(
            v1.get(
                f"{API}/metrics/get-history-bulk-interval",
                params={"run_ids": run_id, "metric_key": "loss", "start_step": 1},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )


class TestArtifacts:
    def test_paths_that_leave_their_prefix_are_refused(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        for path in (
            f"{experiment_id}/{run_id}/artifacts/%2E%2E/%2E%2E/escape.txt",  # the experiment's
            f"{experiment_id}/{run_id}/artifacts/" + "%2E%2E/" * 4 + "escape.txt",  # above root
            f"{experiment_id}/{run_id}/artifacts/a%00b.txt",
        ):
            response = v1.put(f"{ARTIFACTS}/{path}", content=b"x")
            mlflow_error(response, 400, "INVALID_PARAMETER_VALUE")
        mlflow_error(v1.get(ARTIFACTS, params={"path": "../etc"}), 400, "INVALID_PARAMETER_VALUE")
        response = v1.put(f"/api/v1/runs/{run_id}/artifacts/%2E%2E/x.txt", content=b"x")
        assert response.status_code == 400 and "climbs above its root" in response.json()["detail"]
        response = v1.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "../.."})
        assert response.status_code == 400

    def test_every_spelling_of_a_path_is_one_file(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        root = f"{experiment_id}/{run_id}/artifacts"
        hyphenated = f"{uuid.UUID(experiment_id)}/{str(uuid.UUID(run_id)).upper()}/artifacts"
        for number, path in enumerate(
            (
                f"{root}/m/model.pkl",
                f"{root}/./m//model.pkl",
                f"{root}/%2e/m/%2E/model.pkl",
                f"{root}/m%5Cmodel.pkl",
                f"{root}/x/../m/model.pkl",
                f"{hyphenated}/m/model.pkl",
            )
        ):
            ok(v1.put(f"{ARTIFACTS}/{path}", content=f"v{number}".encode()))
        listing = ok(v1.get(ARTIFACTS, params={"path": f"{root}/m"}))
        assert [f["path"] for f in listing["files"]] == ["model.pkl"]
        assert v1.get(f"{ARTIFACTS}/{root}/m/model.pkl").content == b"v5"
        response = v1.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "./m/"})
        assert [f["path"] for f in response.json()["files"]] == ["m/model.pkl"]

    def test_writes_outside_every_run_are_refused(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        other_experiment, _ = new_run(v1)
        invented = uuid.uuid4().hex
        for path, status in (
            ("model.pkl", 400),  # the store's root
            (f"{experiment_id}/model.pkl", 400),  # an experiment's folder
            (f"{experiment_id}/{invented}/artifacts/model.pkl", 404),  # no such run
            (f"{other_experiment}/{run_id}/artifacts/model.pkl", 404),  # not that experiment's
        ):
            response = v1.put(f"{ARTIFACTS}/{path}", content=b"x")
            assert response.status_code == status, (path, response.text)
            assert v1.delete(f"{ARTIFACTS}/{path}").status_code == status
        assert (
            v1.get(f"{ARTIFACTS}/{other_experiment}/{run_id}/artifacts/model.pkl").status_code
            == 404
        )

    def test_size_limit(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        path = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/big.bin"
        body = b"x" * (ARTIFACT_MAX_BYTES + 1)
        mlflow_error(v1.put(path, content=body), 413, "INVALID_PARAMETER_VALUE")

        def chunks() -> Any:
            for _ in range(ARTIFACT_MAX_BYTES // 65536 + 2):
                yield b"y" * 65536

        # Without a Content-Length the limit is enforced while streaming.
        mlflow_error(v1.put(path, content=chunks()), 413, "INVALID_PARAMETER_VALUE")
        assert ok(v1.get(ARTIFACTS, params={"path": f"{experiment_id}/{run_id}/artifacts"})) == {}
        response = v1.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=body)
        assert response.status_code == 413 and "detail" in response.json()

    def test_upload_list_download_delete(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        prefix = f"{experiment_id}/{run_id}/artifacts"
        payload = bytes(range(256)) * 4096  # 1 MiB: streamed in several chunks
        payload = payload[: ARTIFACT_MAX_BYTES - 1]
        ok(v1.put(f"{ARTIFACTS}/{prefix}/data/blob.bin", content=payload))
        ok(v1.put(f"{ARTIFACTS}/{prefix}/data/blob.bin", content=payload))  # a retry replaces it
        ok(v1.put(f"{ARTIFACTS}/{prefix}/readme.md", content=b"# hi"))
        assert ok(v1.get(ARTIFACTS, params={"path": prefix})) == {
            "files": [
                {"path": "data", "is_dir": True},
                {"path": "readme.md", "is_dir": False, "file_size": 4},
            ]
        }
        assert ok(v1.get(ARTIFACTS, params={"path": f"{prefix}/readme.md"})) == {}
        download = v1.get(f"{ARTIFACTS}/{prefix}/data/blob.bin")
        assert download.status_code == 200 and download.content == payload
        mlflow_error(v1.get(f"{ARTIFACTS}/{prefix}/nothing"), 404, "RESOURCE_DOES_NOT_EXIST")
        ok(v1.delete(f"{ARTIFACTS}/{prefix}/data"))
        assert [f["path"] for f in ok(v1.get(ARTIFACTS, params={"path": prefix}))["files"]] == [
            "readme.md"
        ]
        response = v1.delete(f"/api/v1/runs/{run_id}/artifacts/readme.md")
        assert response.status_code == 204
        assert v1.get(f"/api/v1/runs/{run_id}/artifacts").json() == {"path": "", "files": []}
        assert v1.get(f"/api/v1/runs/{run_id}/artifacts/readme.md").status_code == 404


class EchoModel(PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[int], params: Any = None) -> list[int]:
        return model_input


class TestLoggedModels:
    def test_log_model_and_load_it_back(self, client: MlflowClient) -> None:
        mlflow.set_experiment(unique("Models"))
        with mlflow.start_run() as run:
            info = mlflow.pyfunc.log_model(
                name="echo", python_model=EchoModel(), pip_requirements=["pandas"]
            )
            mlflow.log_metric("acc", 0.75)
        model = client.get_logged_model(info.model_id)
        assert str(model.status) == "READY"
        assert model.source_run_id == run.info.run_id
        assert model.artifact_location == (
            f"mlflow-artifacts:/{run.info.experiment_id}/models/{info.model_id}/artifacts"
        )
        outputs = client.get_run(run.info.run_id).outputs.model_outputs
        assert [(output.model_id, output.step) for output in outputs] == [(info.model_id, 0)]
        found = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string="name = 'echo'",
            output_format="list",
        )
        assert [m.model_id for m in found] == [info.model_id]
        loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
        assert list(loaded.predict([1, 2])) == [1, 2]
        listed = {f.path for f in client.list_artifacts(run.info.run_id, "echo")}
        assert "echo/MLmodel" in listed

    def test_raw_create_finalize_tags_and_search(self, v1: httpx.Client) -> None:
        experiment_id, run_id = new_run(v1)
        created = ok(
            v1.post(
                f"{API}/logged-models",
                json={
                    "experiment_id": experiment_id,
                    "name": "clf",
                    "source_run_id": run_id,
                    "params": [{"key": "depth", "value": "3"}],
                    "tags": [{"key": "team", "value": "nlp"}],
                },
            )
        )["model"]
        model_id = created["info"]["model_id"]
        assert created["info"]["status"] == "LOGGED_MODEL_PENDING"
        assert created["data"]["params"] == [{"key": "depth", "value": "3"}]
        finalized = ok(
            v1.patch(
                f"{API}/logged-models/{model_id}",
                json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
            )
        )["model"]
        assert finalized["info"]["status"] == "LOGGED_MODEL_READY"
        ok(
            v1.patch(
                f"{API}/logged-models/{model_id}/tags", json={"tags": [{"key": "k", "value": "v"}]}
            )
        )
        ok(v1.delete(f"{API}/logged-models/{model_id}/tags/team"))
        tags = ok(v1.get(f"{API}/logged-models/{model_id}"))["model"]["info"]["tags"]
        assert tags == [{"key": "k", "value": "v"}]
        for search_filter, expected in (
            ("name = 'clf'", [model_id]),
            ("name LIKE 'c%' AND tags.k = 'v'", [model_id]),
            (f"source_run_id = '{run_id}'", [model_id]),
            ("status = 'READY'", [model_id]),
            ("params.depth = '4'", []),
        ):
            found = ok(
                v1.post(
                    f"{API}/logged-models/search",
                    json={"experiment_ids": [experiment_id], "filter": search_filter},
                )
            )
            models = found.get("models", [])  # left out when empty, as MLflow does
            assert [m["info"]["model_id"] for m in models] == expected, search_filter
        mlflow_error(
            v1.post(
                f"{API}/logged-models/search",
                json={"experiment_ids": [experiment_id], "filter": "metrics.acc > 1"},
            ),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        ok(v1.delete(f"{API}/logged-models/{model_id}"))
        mlflow_error(v1.get(f"{API}/logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")


class TestInputs:
    def test_datasets_and_model_inputs_show_on_the_run(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        dataset = {
            "name": "train",
            "digest": "2981c147",
            "source_type": "code",
            "source": "{}",
            "schema": '{"cols": 1}',
        }
        body = {
            "run_id": run_id,
            "datasets": [
                {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
            ],
            "models": [{"model_id": "m-abc"}],
        }
        ok(v1.post(f"{API}/runs/log-inputs", json=body))
        ok(v1.post(f"{API}/runs/log-inputs", json=body))  # a retry adds nothing
        inputs = ok(v1.get(f"{API}/runs/get", params={"run_id": run_id}))["run"]["inputs"]
        assert inputs == {
            "dataset_inputs": [
                {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
            ],
            "model_inputs": [{"model_id": "m-abc"}],
        }

    def test_nan_is_a_string_on_the_wire(self, v1: httpx.Client) -> None:
        _, run_id = new_run(v1)
        ok(
            v1.post(
                f"{API}/runs/log-metric",
                json={"run_id": run_id, "key": "n", "value": "NaN", "timestamp": 5},
            )
        )
        history = ok(
            v1.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "n"})
        )
        assert history["metrics"][0]["value"] == "NaN"
        assert math.isnan(float(history["metrics"][0]["value"]))
