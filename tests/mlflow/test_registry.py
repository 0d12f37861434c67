"""The model registry through the official mlflow client over real HTTP, on SQLite and
PostgreSQL: log a model, register it, alias it, load it back by alias and by version,
search, transition, rename and delete, as a team's MLflow code does.

Most tests use a small `mlflow.pyfunc.PythonModel` (quick to save and load); one logs a
scikit-learn classifier with `mlflow.sklearn`, as a team's training code does."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.services_available import require_module

FRAME = pd.DataFrame({"x": [1.0, 2.0, 3.5]})


class AddN(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def __init__(self, n: float) -> None:
        self.n = n

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input + self.n


def _name(prefix: str = "clf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _log_model(n: float = 2.0) -> tuple[str, str]:
    """A logged pyfunc model: (its models:/m-… URI, its run id)."""
    mlflow.set_experiment(_name("registry"))
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddN(n), pip_requirements=["mlflow"]
        )
    return info.model_uri, run.info.run_id


def _error_code(call: Any) -> str:
    with pytest.raises(MlflowException) as info:
        call()
    return str(info.value.error_code)


class TestRegisterAliasAndLoad:
    def test_a_scikit_learn_model_loads_by_alias_with_the_same_predictions(
        self, client: MlflowClient
    ) -> None:
        require_module("sklearn", "a scikit-learn model is what teams register")
        from sklearn import linear_model

        features = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0] * 3})
        labels = [0, 0, 0, 1, 1, 1]
        classifier = linear_model.LogisticRegression().fit(features, labels)
        mlflow.set_experiment(_name("sklearn"))
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(classifier, name="model", pip_requirements=["mlflow"])
        name = _name("sklearn")
        mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
        mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
        client.set_registered_model_alias(name, "champion", 2)

        loaded = mlflow.sklearn.load_model(f"models:/{name}@champion")
        assert list(loaded.predict(features)) == list(classifier.predict(features))
        served = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(features)
        assert list(served) == list(classifier.predict(features))
        assert client.get_model_version_by_alias(name, "champion").version == "2"

    def test_a_model_registered_twice_loads_by_alias_and_by_version(
        self, client: MlflowClient
    ) -> None:
        model_uri, run_id = _log_model(2.0)
        name = _name()
        first = mlflow.register_model(model_uri, name)
        second = mlflow.register_model(f"runs:/{run_id}/model", name)
        assert (first.version, second.version) == ("1", "2")
        assert second.run_id == run_id
        assert second.source.startswith("models:/m-")
        client.set_registered_model_alias(name, "champion", 2)

        expected = AddN(2.0).predict(None, FRAME)
        by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(FRAME)
        by_version = mlflow.pyfunc.load_model(f"models:/{name}/1").predict(FRAME)
        pd.testing.assert_frame_equal(by_alias, expected)
        pd.testing.assert_frame_equal(by_version, expected)

        got = client.get_model_version_by_alias(name, "champion")
        assert (got.version, got.aliases) == ("2", ["champion"])
        model = client.get_registered_model(name)
        assert model.aliases == {"champion": "2"}
        download = client.get_model_version_download_uri(name, 1)
        assert download.startswith("mlflow-artifacts:/")

    def test_download_artifacts_of_a_version(self, client: MlflowClient, tmp_path: Path) -> None:
        model_uri, _ = _log_model()
        name = _name()
        mlflow.register_model(model_uri, name)
        local = mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path))
        assert (Path(local) / "MLmodel").is_file()
        assert (Path(local) / "python_model.pkl").is_file()

    def test_a_runs_uri_of_plain_files_resolves_to_the_runs_artifacts(
        self, client: MlflowClient, tmp_path: Path
    ) -> None:
        mlflow.set_experiment(_name("files"))
        (tmp_path / "weights.txt").write_text("w = 3")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(tmp_path / "weights.txt"), artifact_path="bundle")
        name = _name()
        client.create_registered_model(name)
        version = client.create_model_version(
            name, f"runs:/{run.info.run_id}/bundle", run_id=run.info.run_id
        )
        uri = client.get_model_version_download_uri(name, version.version)
        assert uri.endswith(f"/{run.info.run_id}/artifacts/bundle")
        local = mlflow.artifacts.download_artifacts(
            f"models:/{name}/1", dst_path=str(tmp_path / "d")
        )
        assert (Path(local) / "weights.txt").read_text() == "w = 3"

    def test_a_copied_version_loads_from_the_same_files(self, client: MlflowClient) -> None:
        model_uri, _ = _log_model(5.0)
        name, copy = _name(), _name("copy")
        mlflow.register_model(model_uri, name)
        client.set_registered_model_alias(name, "champion", 1)
        copied = client.copy_model_version(f"models:/{name}@champion", copy)
        assert (copied.name, copied.version, copied.source) == (copy, "1", f"models:/{name}/1")
        assert client.get_model_version_download_uri(copy, 1) == (
            client.get_model_version_download_uri(name, 1)
        )
        loaded = mlflow.pyfunc.load_model(f"models:/{copy}/1").predict(FRAME)
        pd.testing.assert_frame_equal(loaded, AddN(5.0).predict(None, FRAME))


class TestSearch:
    def test_by_name_tag_order_pages_and_or(self, client: MlflowClient) -> None:
        prefix = _name("search")
        names = [f"{prefix}-{letter}" for letter in "abc"]
        for index, name in enumerate(names):
            client.create_registered_model(name, tags={"team": "nlp" if index else "cv"})
        like = f"name LIKE '{prefix}-%'"
        found = client.search_registered_models(filter_string=like, order_by=["name DESC"])
        assert [m.name for m in found] == names[::-1]
        tagged = client.search_registered_models(filter_string=f"{like} AND tags.team = 'cv'")
        assert [m.name for m in tagged] == names[:1]
        either = client.search_registered_models(
            filter_string=f"{like} AND (name = '{names[0]}' OR name = '{names[2]}')"
        )
        assert sorted(m.name for m in either) == [names[0], names[2]]

        pages, token = [], None
        while True:
            page = client.search_registered_models(
                filter_string=like, max_results=1, order_by=["name ASC"], page_token=token
            )
            pages += [m.name for m in page]
            token = page.token
            if not token:
                break
        assert pages == names

    def test_versions_by_run_and_tag(self, client: MlflowClient) -> None:
        model_uri, run_id = _log_model()
        name = _name()
        client.create_registered_model(name)
        client.create_model_version(name, model_uri, run_id=run_id, tags={"stage": "a"})
        client.create_model_version(name, model_uri, run_id=run_id, tags={"stage": "b"})
        by_run = client.search_model_versions(f"run_id = '{run_id}'")
        assert sorted(v.version for v in by_run) == ["1", "2"]
        by_tag = client.search_model_versions(f"name = '{name}' AND tags.stage = 'b'")
        assert [v.version for v in by_tag] == ["2"]
        ordered = client.search_model_versions(
            f"name = '{name}'", order_by=["version_number ASC"], max_results=1
        )
        assert [v.version for v in ordered] == ["1"] and ordered.token
        rest = client.search_model_versions(
            f"name = '{name}'", order_by=["version_number ASC"], page_token=ordered.token
        )
        assert [v.version for v in rest] == ["2"]


class TestLifecycle:
    def test_deleting_a_version_takes_its_alias(self, client: MlflowClient) -> None:
        model_uri, _ = _log_model()
        name = _name()
        client.create_registered_model(name)
        for _ in range(2):
            client.create_model_version(name, model_uri)
        client.set_registered_model_alias(name, "champion", 2)
        client.delete_model_version(name, 2)
        assert client.get_registered_model(name).aliases == {}
        code = _error_code(lambda: client.get_model_version_by_alias(name, "champion"))
        assert code == "INVALID_PARAMETER_VALUE"  # MLflow's answer for an unknown alias
        assert client.create_model_version(name, model_uri).version == "3"

    def test_rename_keeps_versions_and_aliases(self, client: MlflowClient) -> None:
        model_uri, _ = _log_model()
        name, new_name = _name(), _name("renamed")
        client.create_registered_model(name, description="first")
        client.create_model_version(name, model_uri)
        client.set_registered_model_alias(name, "prod", 1)
        client.rename_registered_model(name, new_name)
        model = client.get_registered_model(new_name)
        assert (model.aliases, model.description) == ({"prod": "1"}, "first")
        assert client.get_model_version(new_name, 1).name == new_name
        assert _error_code(lambda: client.get_registered_model(name)) == ("RESOURCE_DOES_NOT_EXIST")

    def test_transition_stage_answers_as_mlflow(self, client: MlflowClient) -> None:
        model_uri, _ = _log_model()
        name = _name()
        client.create_registered_model(name)
        for _ in range(2):
            client.create_model_version(name, model_uri)
        client.transition_model_version_stage(name, 1, "production")
        moved = client.transition_model_version_stage(
            name, 2, "Production", archive_existing_versions=True
        )
        assert moved.current_stage == "Production"
        assert client.get_model_version(name, 1).current_stage == "Archived"
        latest = client.get_latest_versions(name, stages=["Production"])
        assert [v.version for v in latest] == ["2"]
        code = _error_code(lambda: client.transition_model_version_stage(name, 1, "Shipping"))
        assert code == "INVALID_PARAMETER_VALUE"

    def test_errors_carry_mlflows_codes(self, client: MlflowClient) -> None:
        name = _name()
        client.create_registered_model(name)
        assert _error_code(lambda: client.create_registered_model(name)) == (
            "RESOURCE_ALREADY_EXISTS"
        )
        assert _error_code(lambda: client.get_model_version(name, 7)) == ("RESOURCE_DOES_NOT_EXIST")
        assert _error_code(lambda: client.create_registered_model("a/b")) == (
            "INVALID_PARAMETER_VALUE"
        )
        assert _error_code(lambda: client.set_registered_model_alias(name, "v1", 1)) == (
            "INVALID_PARAMETER_VALUE"
        )

    def test_twenty_concurrent_creates_number_versions_1_to_20(
        self, client: MlflowClient, tracking_uri: str
    ) -> None:
        name = _name("race")
        client.create_registered_model(name)

        def create(index: int) -> str:
            own = MlflowClient(tracking_uri)
            return str(own.create_model_version(name, f"s3://bucket/model-{index}").version)

        with ThreadPoolExecutor(max_workers=20) as pool:
            numbers = list(pool.map(create, range(20)))
        assert sorted(int(n) for n in numbers) == list(range(1, 21))
        stored = client.search_model_versions(f"name = '{name}'")
        assert sorted(int(v.version) for v in stored) == list(range(1, 21))
