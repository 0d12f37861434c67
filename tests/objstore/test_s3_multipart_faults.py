"""A part of an MLflow multipart upload lost on the network, with the official client: the
connection of part 3's first PUT drops mid-body (a proxy between the client and the server).

mlflow 3.x's client does not resend a failed part by itself (`HttpArtifactRepository.
_upload_part` is one `requests.put`): it aborts the upload and raises, which leaves nothing
in the bucket, and logging the file again stores it whole. A client that resends the part
to the same URL (what a resuming client does) completes the upload, byte for byte. The
threshold and the part size are 1 MiB, so a 5 MiB file takes 6 parts."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.mlflow.conftest import point_mlflow_at
from tests.objstore.part_proxy import PartDroppingProxy
from tests.objstore.s3 import S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

mlflow = require_module("mlflow", "the multipart tests drive the real mlflow client")

from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.store.artifact.artifact_repository_registry import (  # noqa: E402
    get_artifact_repository,
)
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository  # noqa: E402

PART = 1024 * 1024
DROPPED = 3


@pytest.fixture
def proxy(s3_server: LiveServer) -> Iterator[PartDroppingProxy]:
    dropping = PartDroppingProxy(s3_server.port, drop_part=DROPPED)
    dropping.start()
    yield dropping
    dropping.stop()


@pytest.fixture
def client_through_proxy(
    proxy: PartDroppingProxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PartDroppingProxy]:
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    for _ in point_mlflow_at(proxy.url, monkeypatch):
        yield proxy


def _large(tmp_path: Path) -> Path:
    large = tmp_path / "weights.bin"
    large.write_bytes(os.urandom(5 * PART + 123))
    return large


def _run_keys(bucket: S3Bucket, run_id: str) -> list[str]:
    return [key for key in bucket.object_keys() if f"/{run_id}/" in key]


class TestDroppedPart:
    def test_the_client_aborts_leaving_nothing_and_logging_again_stores_it_whole(
        self, client_through_proxy: PartDroppingProxy, tmp_path: Path, bucket: S3Bucket
    ) -> None:
        proxy = client_through_proxy
        large = _large(tmp_path)
        mlflow.set_experiment("s3-dropped-part")
        with mlflow.start_run() as run:
            with pytest.raises(MlflowException, match="Failed to upload at least one part"):
                mlflow.log_artifact(str(large), artifact_path="model")
            assert proxy.dropped == 1
            run_id = run.info.run_id
            assert _run_keys(bucket, run_id) == []  # aborted: no part, no file
            assert run_id not in bucket.pending_uploads()
            assert mlflow.MlflowClient().list_artifacts(run_id) == []

            mlflow.log_artifact(str(large), artifact_path="model")
        assert sorted(proxy.parts) == sorted([*range(1, 7), *range(1, 7)])
        keys = _run_keys(bucket, run_id)
        assert [key.split("/artifacts/", 1)[1] for key in keys] == ["model/weights.bin"]
        assert bucket.read(keys[0]) == large.read_bytes()
        back = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "d")
        )
        assert Path(back).read_bytes() == large.read_bytes()

    def test_the_part_resent_to_its_url_completes_the_upload(
        self, client_through_proxy: PartDroppingProxy, tmp_path: Path, bucket: S3Bucket
    ) -> None:
        proxy = client_through_proxy
        large = _large(tmp_path)
        mlflow.set_experiment("s3-resent-part")
        with mlflow.start_run() as run:
            repo = get_artifact_repository(run.info.artifact_uri)
        assert isinstance(repo, HttpArtifactRepository)
        created = repo.create_multipart_upload(str(large), num_parts=6, artifact_path="model")
        parts = []
        resent: list[int] = []
        for index, credential in enumerate(created.credentials):
            # The client's own part upload; a part whose connection drops is sent again.
            try:
                part = repo._upload_part(credential, str(large), PART, PART * index)
            except requests.ConnectionError:
                resent.append(credential.part_number)
                part = repo._upload_part(credential, str(large), PART, PART * index)
            parts.append(part)
        assert resent == [DROPPED]
        assert proxy.parts == [1, 2, 3, 3, 4, 5, 6]
        repo.complete_multipart_upload(str(large), created.upload_id, parts, "model")

        run_id = run.info.run_id
        keys = _run_keys(bucket, run_id)
        assert [key.split("/artifacts/", 1)[1] for key in keys] == ["model/weights.bin"]
        assert bucket.read(keys[0]) == large.read_bytes()
