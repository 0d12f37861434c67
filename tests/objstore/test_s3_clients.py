"""The official mlflow client and our SDK against a server whose artifacts live in S3
(moto_server on loopback): what they log lands in the bucket, and lists and downloads
come back byte for byte."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltrail
from tests.mlflow.conftest import point_mlflow_at
from tests.objstore.s3 import S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

mlflow = require_module("mlflow", "the object-storage tests drive the real mlflow client")

from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def tracking(s3_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    for url in point_mlflow_at(s3_server.url, monkeypatch):
        yield MlflowClient(url)


def _tree(root: Path) -> dict[str, bytes]:
    (root / "plots" / "deep").mkdir(parents=True)
    files = {
        "plots/loss.png": os.urandom(70_000),
        "plots/deep/weights.bin": os.urandom(3 * 1024 * 1024 + 17),
        "plots/notes v1.txt": "ünïcode ✓".encode(),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


class TestMlflowClient:
    def test_log_list_and_download(
        self, tracking: MlflowClient, tmp_path: Path, bucket: S3Bucket
    ) -> None:
        single = tmp_path / "model.bin"
        single.write_bytes(os.urandom(1024 * 1024 + 1))
        source = tmp_path / "source"
        files = _tree(source)
        mlflow.set_experiment("s3-mlflow-client")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(single))
            mlflow.log_artifacts(str(source / "plots"), artifact_path="plots")
            mlflow.log_text("hello", "texts/hello.txt")
        run_id = run.info.run_id

        keys = [key for key in bucket.object_keys() if f"/{run_id}/artifacts/" in key]
        assert sorted(key.split("/artifacts/", 1)[1] for key in keys) == sorted(
            ["model.bin", "texts/hello.txt", *files]
        )
        root = {(f.path, f.is_dir) for f in tracking.list_artifacts(run_id)}
        assert root == {("model.bin", False), ("plots", True), ("texts", True)}
        plots = {f.path for f in tracking.list_artifacts(run_id, "plots")}
        assert plots == {"plots/deep", "plots/loss.png", "plots/notes v1.txt"}

        target = tmp_path / "down"
        target.mkdir()
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="plots", dst_path=str(target)
        )
        for name, data in files.items():
            assert (Path(local).parent / name).read_bytes() == data
        local_file = tracking.download_artifacts(run_id, "model.bin", str(target))
        assert Path(local_file).read_bytes() == single.read_bytes()


class TestSdk:
    def test_log_artifacts_and_download(
        self, s3_server: LiveServer, tmp_path: Path, bucket: S3Bucket
    ) -> None:
        mltrail.init(url=s3_server.url, spool_dir=tmp_path / "spool", flush_interval=0.2)
        source = tmp_path / "source"
        files = _tree(source)
        with mltrail.start_run(experiment="s3-sdk") as run:
            uploaded = run.log_artifacts(source, artifact_path="out")
        assert sorted(a.path for a in uploaded) == sorted(f"out/{name}" for name in files)
        assert (
            sum(f"{run.id.replace('-', '')}/artifacts/out/" in k for k in bucket.object_keys()) == 3
        )
        with mltrail.Client(s3_server.url) as client:
            for name, data in files.items():
                path = client.download_artifact(run.id, f"out/{name}", tmp_path / "copy")
                assert path.read_bytes() == data
