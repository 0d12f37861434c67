"""`MlflowClient` and `mlflow.search_*` against a live server: batches, history, search,
experiments, and the errors the client must see."""

import time
import uuid

import httpx
import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from tests.mlflow.conftest import LiveServer, unique


def error_code(exc: MlflowException) -> str:
    return str(exc.error_code)


class TestBatches:
    def test_log_batch_beyond_the_request_limits(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        experiment_id = client.create_experiment(unique("Big batch"))
        run = client.create_run(experiment_id)
        now = int(time.time() * 1000)
        metrics = [Metric("loss", 1.0 / (step + 1), now + step, step) for step in range(2500)]
        params = [Param(f"p{i}", str(i)) for i in range(150)]
        tags = [RunTag(f"t{i}", "x" * 10) for i in range(150)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        # The client re-sends on timeouts and 5xx: the same batch again stores nothing twice.
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)

        history = client.get_metric_history(run.info.run_id, "loss")
        assert [point.step for point in history] == list(range(2500))
        assert history[-1].value == pytest.approx(1 / 2500)
        stored = client.get_run(run.info.run_id)
        assert len(stored.data.params) == 150 and len(stored.data.tags) >= 150
        same = v1.get(f"/api/v1/runs/{run.info.run_id}").json()
        assert same["params"] == stored.data.params
        assert same["metrics"]["loss"]["step"] == 2499

    def test_a_deleted_runs_history_is_still_read_as_mlflow_reads_it(
        self, client: MlflowClient
    ) -> None:
        run = client.create_run(client.create_experiment(unique("Deleted history")))
        client.log_metric(run.info.run_id, "loss", 0.5, timestamp=7, step=3)
        client.delete_run(run.info.run_id)
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [(m.step, m.timestamp, m.value) for m in history] == [(3, 7, 0.5)]

    def test_long_values_are_truncated_like_mlflow(self, client: MlflowClient) -> None:
        run = client.create_run(client.create_experiment(unique("Long values")))
        client.log_param(run.info.run_id, "long", "p" * 7000)
        client.set_tag(run.info.run_id, "long", "t" * 9000)
        stored = client.get_run(run.info.run_id).data
        assert len(stored.params["long"]) == 6000
        assert len(stored.tags["long"]) == 8000

    def test_tags_are_overwritten_and_deleted(self, client: MlflowClient) -> None:
        run = client.create_run(client.create_experiment(unique("Tags")))
        client.set_tag(run.info.run_id, "k", "1")
        client.set_tag(run.info.run_id, "k", "2")
        assert client.get_run(run.info.run_id).data.tags["k"] == "2"
        client.delete_tag(run.info.run_id, "k")
        assert "k" not in client.get_run(run.info.run_id).data.tags
        with pytest.raises(MlflowException) as missing:
            client.delete_tag(run.info.run_id, "k")
        assert error_code(missing.value) == "RESOURCE_DOES_NOT_EXIST"

    def test_renaming_through_the_tag_renames_the_run(self, client: MlflowClient) -> None:
        run = client.create_run(client.create_experiment(unique("Rename run")), run_name="old")
        client.set_tag(run.info.run_id, "mlflow.runName", "new")
        assert client.get_run(run.info.run_id).info.run_name == "new"
        client.update_run(run.info.run_id, name="newer")
        stored = client.get_run(run.info.run_id)
        assert stored.info.run_name == "newer"
        assert stored.data.tags["mlflow.runName"] == "newer"


class TestSearch:
    @pytest.fixture
    def experiment_id(self, client: MlflowClient) -> str:
        experiment_id = client.create_experiment(unique("Search"))
        for index, (lr, acc) in enumerate([("0.1", 0.5), ("0.01", 0.9), ("0.01", 0.7), ("1", 0.2)]):
            run = client.create_run(
                experiment_id, run_name=f"run-{index}", start_time=1_700_000_000_000 + index
            )
            client.log_param(run.info.run_id, "lr", lr)
            client.log_metric(run.info.run_id, "acc", acc)
            client.set_tag(run.info.run_id, "team", "nlp" if index % 2 else "vision")
            if index == 3:
                client.set_terminated(run.info.run_id)
        return experiment_id

    def test_filter_and_order(self, client: MlflowClient, experiment_id: str) -> None:
        runs = client.search_runs(
            [experiment_id], filter_string="params.lr = '0.01'", order_by=["metrics.acc DESC"]
        )
        assert [run.info.run_name for run in runs] == ["run-1", "run-2"]
        runs = client.search_runs(
            [experiment_id],
            filter_string="metrics.acc > 0.3 AND tags.team = 'vision'",
        )
        assert [run.info.run_name for run in runs] == ["run-2", "run-0"]
        finished = client.search_runs([experiment_id], "attributes.status = 'FINISHED'")
        assert [run.info.run_name for run in finished] == ["run-3"]
        by_name = client.search_runs([experiment_id], order_by=["attributes.run_name ASC"])
        assert [run.info.run_name for run in by_name] == ["run-0", "run-1", "run-2", "run-3"]

    def test_pages_follow_tokens(self, client: MlflowClient, experiment_id: str) -> None:
        seen = []
        token = None
        while True:
            page = client.search_runs(
                [experiment_id], order_by=["metrics.acc ASC"], max_results=3, page_token=token
            )
            seen += [run.info.run_name for run in page]
            token = page.token
            if not token:
                break
        assert seen == ["run-3", "run-0", "run-2", "run-1"]

    def test_bad_filter_is_a_400(self, client: MlflowClient, experiment_id: str) -> None:
        with pytest.raises(MlflowException) as bad:
            client.search_runs([experiment_id], filter_string="params.lr = 0.01")
        assert error_code(bad.value) == "INVALID_PARAMETER_VALUE"

    def test_pandas_search(self, tracking_uri: str, experiment_id: str) -> None:
        frame = mlflow.search_runs(experiment_ids=[experiment_id], order_by=["metrics.acc DESC"])
        assert list(frame["tags.mlflow.runName"]) == ["run-1", "run-2", "run-0", "run-3"]
        assert list(frame["metrics.acc"]) == [0.9, 0.7, 0.5, 0.2]
        assert list(frame["params.lr"]) == ["0.01", "0.01", "0.1", "1"]
        assert set(frame["status"]) == {"RUNNING", "FINISHED"}

    def test_deleted_runs_by_view_type(self, client: MlflowClient, experiment_id: str) -> None:
        victim = client.search_runs([experiment_id], "attributes.run_name = 'run-0'")[0]
        client.delete_run(victim.info.run_id)
        assert client.get_run(victim.info.run_id).info.lifecycle_stage == "deleted"
        active = client.search_runs([experiment_id])
        deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
        assert victim.info.run_id not in {run.info.run_id for run in active}
        assert [run.info.run_id for run in deleted] == [victim.info.run_id]
        with pytest.raises(MlflowException) as inactive:
            client.log_metric(victim.info.run_id, "late", 1.0)
        assert error_code(inactive.value) == "INVALID_PARAMETER_VALUE"
        client.restore_run(victim.info.run_id)
        assert len(client.search_runs([experiment_id])) == 4


class TestExperiments:
    def test_search_rename_tag_delete_restore(self, client: MlflowClient) -> None:
        marker = uuid.uuid4().hex[:8]
        first = client.create_experiment(f"Alpha {marker}", tags={"owner": "ana"})
        second = client.create_experiment(f"Beta {marker}")
        found = client.search_experiments(filter_string=f"name LIKE '%{marker}'")
        assert [e.name for e in found] == [f"Beta {marker}", f"Alpha {marker}"]
        by_tag = client.search_experiments(filter_string="tags.owner = 'ana'")
        assert first in [e.experiment_id for e in by_tag]
        ordered = client.search_experiments(
            filter_string=f"name LIKE '%{marker}'", order_by=["name ASC"], max_results=1
        )
        assert [e.name for e in ordered] == [f"Alpha {marker}"] and ordered.token

        client.rename_experiment(second, f"Gamma {marker}")
        assert client.get_experiment(second).name == f"Gamma {marker}"
        client.set_experiment_tag(second, "stage", "prod")
        assert client.get_experiment(second).tags["stage"] == "prod"
        client.delete_experiment_tag(second, "stage")
        assert "stage" not in client.get_experiment(second).tags

        client.delete_experiment(first)
        assert client.get_experiment(first).lifecycle_stage == "deleted"
        active = {e.experiment_id for e in client.search_experiments()}
        deleted = {
            e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)
        }
        assert first not in active and first in deleted
        client.restore_experiment(first)
        assert client.get_experiment(first).lifecycle_stage == "active"

    def test_mlflow_names_appear_as_given_in_v1(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        name = unique("Mixed Case & spaces")
        experiment_id = client.create_experiment(name)
        experiment = v1.get(f"/api/v1/experiments/{experiment_id}").json()
        assert experiment["name"] == name
        assert experiment["owner"] == "mlflow"


class TestErrors:
    def test_unknown_run(self, client: MlflowClient) -> None:
        with pytest.raises(RestException) as missing:
            client.get_run(uuid.uuid4().hex)
        assert error_code(missing.value) == "RESOURCE_DOES_NOT_EXIST"

    def test_changed_param(self, client: MlflowClient) -> None:
        run = client.create_run(client.create_experiment(unique("Params")))
        client.log_param(run.info.run_id, "lr", "0.1")
        client.log_param(run.info.run_id, "lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as changed:
            client.log_param(run.info.run_id, "lr", "0.2")
        assert error_code(changed.value) == "INVALID_PARAMETER_VALUE"
        assert "Changing param values is not allowed" in changed.value.message
        assert client.get_run(run.info.run_id).data.params == {"lr": "0.1"}

    def test_duplicate_experiment(self, client: MlflowClient) -> None:
        name = unique("Twice")
        client.create_experiment(name)
        with pytest.raises(MlflowException) as duplicate:
            client.create_experiment(name)
        assert error_code(duplicate.value) == "RESOURCE_ALREADY_EXISTS"

    def test_deleted_experiment(self, client: MlflowClient) -> None:
        name = unique("Deleted")
        experiment_id = client.create_experiment(name)
        client.delete_experiment(experiment_id)
        with pytest.raises(MlflowException, match="deleted"):
            mlflow.set_experiment(name)
        with pytest.raises(MlflowException) as inactive:
            client.create_run(experiment_id)
        assert error_code(inactive.value) == "INVALID_PARAMETER_VALUE"
        with pytest.raises(MlflowException) as taken:
            client.create_experiment(name)
        assert error_code(taken.value) == "RESOURCE_ALREADY_EXISTS"

    def test_bad_keys_and_values(self, client: MlflowClient) -> None:
        run = client.create_run(client.create_experiment(unique("Keys")))
        for call in (
            lambda: client.log_metric(run.info.run_id, "a/../b", 1.0),
            lambda: client.log_param(run.info.run_id, "x" * 251, "v"),
            lambda: client.set_tag(run.info.run_id, "bad$key", "v"),
        ):
            with pytest.raises(MlflowException) as bad:
                call()
            assert error_code(bad.value) == "INVALID_PARAMETER_VALUE"

    def test_unknown_experiment(self, client: MlflowClient) -> None:
        with pytest.raises(MlflowException) as missing:
            client.get_experiment(uuid.uuid4().hex)
        assert error_code(missing.value) == "RESOURCE_DOES_NOT_EXIST"
        assert client.get_experiment_by_name(unique("Nobody")) is None


class TestCredentials:
    @pytest.mark.parametrize(
        "credentials",
        [
            {"MLFLOW_TRACKING_TOKEN": "some-token"},
            {"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": "secret"},
        ],
    )
    def test_credentials_are_accepted(
        self,
        tracking_uri: str,
        server: LiveServer,
        monkeypatch: pytest.MonkeyPatch,
        credentials: dict[str, str],
    ) -> None:
        for name, value in credentials.items():
            monkeypatch.setenv(name, value)
        client = MlflowClient(tracking_uri)
        run = client.create_run(client.create_experiment(unique("Credentials")))
        client.log_metric(run.info.run_id, "m", 1.0)
        assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
