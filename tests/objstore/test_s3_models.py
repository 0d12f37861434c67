"""The official mlflow client logs a model into a server whose artifacts live in S3
(moto_server on loopback): `mlflow.pyfunc.log_model` writes the model's files into the
bucket, and `load_model` and `download_artifacts` give back a model that predicts."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow.conftest import point_mlflow_at
from tests.objstore.s3 import S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

mlflow = require_module("mlflow", "the object-storage tests drive the real mlflow client")

from mlflow.pyfunc import PythonModel  # noqa: E402


class Doubler(PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[int], params: Any = None) -> list[int]:
        return [2 * value for value in model_input]


@pytest.fixture
def tracking(s3_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from point_mlflow_at(s3_server.url, monkeypatch)


class TestLogModel:
    def test_log_model_then_load_and_download_it_back(
        self, tracking: str, tmp_path: Path, bucket: S3Bucket
    ) -> None:
        mlflow.set_experiment("s3-models")
        with mlflow.start_run() as run:
            info = mlflow.pyfunc.log_model(
                name="doubler", python_model=Doubler(), pip_requirements=["pandas"]
            )

        keys = [k for k in bucket.object_keys() if f"/models/{info.model_id}/artifacts/" in k]
        names = {key.split("/artifacts/", 1)[1] for key in keys}
        assert {"MLmodel", "python_model.pkl", "requirements.txt"} <= names

        loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
        assert list(loaded.predict([1, 2, 3])) == [2, 4, 6]

        local = mlflow.artifacts.download_artifacts(
            artifact_uri=info.model_uri, dst_path=str(tmp_path / "copy")
        )
        assert (Path(local) / "MLmodel").read_text().count(info.model_id) >= 1
        again = mlflow.pyfunc.load_model(local)
        assert list(again.predict([5])) == [10]
        assert run.info.run_id == info.run_id
