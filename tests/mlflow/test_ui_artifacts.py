"""The artifact routes MLflow's own UI calls, against files the official client wrote or
reads: its upload (`upload-artifact`) lands where `MlflowClient` downloads from, and a model
`log_model` uploaded is listed and served by the logged-model routes (`.../artifacts/
directories` and `.../files`) as `list_logged_model_artifacts` and `download_artifacts` see it.
On SQLite and PostgreSQL, over real HTTP."""

from pathlib import Path
from typing import Any

import httpx
import mlflow
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from tests.mlflow.conftest import ARTIFACT_MAX_BYTES, unique

AJAX = "/ajax-api/2.0/mlflow"
API = "/api/2.0/mlflow"


class EchoModel(PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[int], params: Any = None) -> list[int]:
        return model_input


def upload(v1: httpx.Client, run_id: str, path: str, content: bytes) -> httpx.Response:
    return v1.post(
        f"{AJAX}/upload-artifact", params={"run_uuid": run_id, "path": path}, content=content
    )


class TestUiUpload:
    def test_the_client_downloads_what_the_ui_uploaded(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        experiment_id = client.create_experiment(unique("UI upload"))
        run_id = client.create_run(experiment_id).info.run_id
        response = upload(v1, run_id, "notes/readme.md", b"# from the UI\n")
        assert response.status_code == 200, response.text
        assert response.content == b""  # MLflow's server answers an empty body
        listed = client.list_artifacts(run_id, "notes")
        assert [(f.path, f.is_dir, f.file_size) for f in listed] == [("notes/readme.md", False, 14)]
        local = client.download_artifacts(run_id, "notes/readme.md", str(tmp_path))
        assert Path(local).read_bytes() == b"# from the UI\n"
        again = upload(v1, run_id, "notes/readme.md", b"replaced")
        assert again.status_code == 200, again.text
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        local = client.download_artifacts(run_id, "notes/readme.md", str(fresh))
        assert Path(local).read_bytes() == b"replaced"

    def test_the_servers_own_file_limit_holds_for_ui_uploads(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        """Below MLflow's 10 MB, the server's ARTIFACT_MAX_BYTES (1 MiB here) still applies."""
        experiment_id = client.create_experiment(unique("UI upload limit"))
        run_id = client.create_run(experiment_id).info.run_id
        response = upload(v1, run_id, "big.bin", b"x" * (ARTIFACT_MAX_BYTES + 1))
        assert response.status_code == 413, response.text
        assert str(ARTIFACT_MAX_BYTES) in response.json()["message"]
        assert client.list_artifacts(run_id) == []

    def test_a_file_cannot_become_a_directory(self, client: MlflowClient, v1: httpx.Client) -> None:
        experiment_id = client.create_experiment(unique("UI upload clash"))
        run_id = client.create_run(experiment_id).info.run_id
        assert upload(v1, run_id, "a.txt", b"file").status_code == 200
        response = upload(v1, run_id, "a.txt/b.txt", b"under a file")
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert [f.path for f in client.list_artifacts(run_id)] == ["a.txt"]


class TestLoggedModelFiles:
    def test_a_logged_models_files_as_the_client_sees_them(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        mlflow.set_experiment(unique("UI model files"))
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="echo", python_model=EchoModel(), pip_requirements=["pandas"]
            )
        model_id = info.model_id
        model = client.get_logged_model(model_id)
        by_client = {
            (f.path, f.is_dir, f.file_size) for f in client.list_logged_model_artifacts(model_id)
        }
        for prefix in (API, AJAX):
            response = v1.get(f"{prefix}/logged-models/{model_id}/artifacts/directories")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["root_uri"] == model.artifact_location
            listed = {(f["path"], f["is_dir"], f.get("file_size")) for f in body["files"]}
            assert listed == by_client
        assert ("MLmodel", False) in {(path, is_dir) for path, is_dir, _ in listed}
        downloaded = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model.artifact_location}/MLmodel", dst_path=str(tmp_path)
        )
        served = v1.get(
            f"{AJAX}/logged-models/{model_id}/artifacts/files",
            params={"artifact_file_path": "MLmodel"},
        )
        assert served.status_code == 200, served.text
        assert served.content == Path(downloaded).read_bytes()
        assert served.headers["content-disposition"].startswith("attachment")

    def test_a_subdirectory_lists_model_relative_paths(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        experiment_id = client.create_experiment(unique("UI model dirs"))
        model = client.create_logged_model(experiment_id, name="clf")
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "weights.bin").write_bytes(b"abc")
        (tmp_path / "MLmodel").write_text("flavors: {}\n")
        client.log_model_artifacts(model.model_id, str(tmp_path))
        directories = f"{AJAX}/logged-models/{model.model_id}/artifacts/directories"
        response = v1.get(directories, params={"artifact_directory_path": "data"})
        assert response.status_code == 200, response.text
        assert response.json()["files"] == [
            {"path": "data/weights.bin", "is_dir": False, "file_size": 3}
        ]
        files = f"{AJAX}/logged-models/{model.model_id}/artifacts/files"
        served = v1.get(files, params={"artifact_file_path": "data/weights.bin"})
        assert (served.status_code, served.content) == (200, b"abc")
        climbing = v1.get(files, params={"artifact_file_path": "../../other/file"})
        assert climbing.status_code == 400, climbing.text
        assert climbing.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Invalid path",
        }

    def test_a_deleted_models_files_are_not_served(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        experiment_id = client.create_experiment(unique("UI model deleted"))
        model = client.create_logged_model(experiment_id, name="gone")
        (tmp_path / "MLmodel").write_text("flavors: {}\n")
        client.log_model_artifacts(model.model_id, str(tmp_path))
        client.delete_logged_model(model.model_id)
        for response in (
            v1.get(f"{AJAX}/logged-models/{model.model_id}/artifacts/directories"),
            v1.get(
                f"{AJAX}/logged-models/{model.model_id}/artifacts/files",
                params={"artifact_file_path": "MLmodel"},
            ),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
