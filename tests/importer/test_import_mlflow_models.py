"""`mltrail import mlflow` of the model side: logged models (MLflow 3, ids kept, files
copied) and a registered model with three versions, aliases and tags, from a SQLite store
MLflow wrote; afterwards the official mlflow client loads `models:/<name>@<alias>` from our
server with the same predictions, and a second pass copies nothing."""

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from mlflow.tracking import MlflowClient

from tests.importer.conftest import client_environment, run_import
from tests.importer.mlflow_model_store import (
    REGISTERED,
    FilledModels,
    fill_models,
    predictions,
    registry_snapshot,
)
from tests.sdk.live_server import LiveServer


def _filled(directory: Path) -> tuple[str, FilledModels]:
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    files = directory / "files"
    files.mkdir()
    return uri, fill_models(uri, directory / "artifacts", files)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, FilledModels]:
    """An MLflow store with models, filled once: an import only reads its source."""
    return _filled(tmp_path_factory.mktemp("mlflow-models"))


@pytest.fixture
def own_source(tmp_path: Path) -> tuple[str, FilledModels]:
    """A store of the test's own, for a test that adds to it."""
    return _filled(tmp_path)


def _versions(url: str) -> dict[int, dict[str, object]]:
    listed = httpx.get(f"{url}/api/v1/models/{quote(REGISTERED)}/versions").json()
    return {item["version"]: item for item in listed["items"]}


class TestModelsArrive:
    def test_logged_and_registered_models_match_and_load_by_alias(
        self, source: tuple[str, FilledModels], ours: LiveServer
    ) -> None:
        uri, filled = source
        done = run_import("mlflow", "--from", uri, "--to", ours.url)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "Logged models" in done.stderr and "Registered models" in done.stderr
        assert "model versions" in done.stdout and "✗" not in done.stdout

        expected, got = registry_snapshot(uri), registry_snapshot(ours.url)
        assert sorted(got["logged models"]) == sorted(filled.logged)
        assert got == expected

        loaded = predictions(ours.url, sorted(filled.expected), client_environment())
        assert loaded == filled.expected

        # Sources now name what this server holds: the logged models' ids, the run's files.
        versions = _versions(ours.url)
        assert {n: v["source"] for n, v in versions.items()} == {
            1: f"models:/{filled.logged[0]}",
            2: f"models:/{filled.logged[1]}",
            3: f"runs:/{filled.run_id}/exported",
        }
        client = MlflowClient(tracking_uri=ours.url, registry_uri=ours.url)
        for number in (1, 2):
            location = client.get_model_version_download_uri(REGISTERED, number)
            assert location.startswith("mlflow-artifacts:/")
            assert f"/models/{filled.logged[number - 1]}/artifacts" in location
        files = client.list_logged_model_artifacts(filled.logged[0])
        assert "MLmodel" in {info.path for info in files}
        # The next version registered here continues after the imported ones.
        made = client.create_model_version(REGISTERED, f"models:/{filled.logged[0]}")
        assert made.version == "4"

    def test_a_second_pass_copies_nothing_and_changes_no_count(
        self, source: tuple[str, FilledModels], ours: LiveServer
    ) -> None:
        uri, _ = source
        first = run_import("mlflow", "--from", uri, "--to", ours.url, "--json")
        assert first.returncode == 0, first.stderr + first.stdout
        copied = json.loads(first.stdout)
        assert sum(model["files_sent"] for model in copied["models"]) > 0
        before = registry_snapshot(ours.url), _versions(ours.url)

        again = run_import("mlflow", "--from", uri, "--to", ours.url, "--json")
        assert again.returncode == 0, again.stderr + again.stdout
        report = json.loads(again.stdout)
        assert sum(model["files_sent"] for model in report["models"]) == 0
        assert sum(run["files_sent"] + run["points_sent"] for run in report["runs"]) == 0
        assert report["counts"] == copied["counts"]
        counts = report["counts"]
        assert counts["logged models"] == {"source": 2, "target": 2}
        assert counts["model versions"] == {"source": 3, "target": 3}
        assert counts["model aliases"] == {"source": 2, "target": 2}
        assert report["mismatched_models"] == []
        assert (registry_snapshot(ours.url), _versions(ours.url)) == before

    def test_an_import_killed_before_the_model_phases_resumes_with_them(
        self, source: tuple[str, FilledModels], ours: LiveServer
    ) -> None:
        uri, filled = source
        killed = run_import(
            "mlflow",
            "--from",
            uri,
            "--to",
            ours.url,
            env={"MLTRAIL_IMPORT_STOP_AFTER_RUNS": "1"},  # the source's only run
        )
        assert killed.returncode == -9, killed.stderr
        assert httpx.get(f"{ours.url}/api/v1/models/{quote(REGISTERED)}").status_code == 404

        resumed = run_import("mlflow", "--from", uri, "--to", ours.url, "--json")
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        report = json.loads(resumed.stdout)
        assert sum(run["points_sent"] + run["files_sent"] for run in report["runs"]) == 0
        assert registry_snapshot(ours.url) == registry_snapshot(uri)
        loaded = predictions(ours.url, [f"models:/{REGISTERED}@champion"], client_environment())
        assert loaded == {k: v for k, v in filled.expected.items() if k.endswith("@champion")}


class TestFiltered:
    def test_models_of_experiments_left_out_are_not_copied(
        self, own_source: tuple[str, FilledModels], ours: LiveServer
    ) -> None:
        uri, _ = own_source
        client = MlflowClient(tracking_uri=uri)
        client.create_experiment("other", artifact_location="file:///tmp/unused-other")
        done = run_import("mlflow", "--from", uri, "--to", ours.url, "--json", "-e", "other")
        assert done.returncode == 0, done.stderr + done.stdout
        report = json.loads(done.stdout)
        assert report["models"] == []
        assert httpx.get(f"{ours.url}/api/v1/models").json()["total"] == 0
