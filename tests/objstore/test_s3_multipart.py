"""MLflow's multipart upload (`mlflow-artifacts/mpu/create|complete|abort`) into a bucket:
the server advertises it in server-info as MLflow's does for cloud stores, the official
client sends a file above its threshold in parts (the threshold and the part size are set
to 1 MiB here, so a 5 MiB file takes 5 parts instead of a 500 MiB file), the file appears
only once completed, and an aborted upload leaves nothing in the bucket."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mlflow.conftest import point_mlflow_at
from tests.objstore.s3 import S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

mlflow = require_module("mlflow", "the multipart tests drive the real mlflow client")

from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository  # noqa: E402

PART = 1024 * 1024
MPU = "/api/2.0/mlflow-artifacts/mpu"


@pytest.fixture
def multipart_client(s3_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    for _ in point_mlflow_at(s3_server.url, monkeypatch):
        yield s3_server.url


def _run_dir(http: httpx.Client) -> str:
    experiment = http.post(
        "/api/v1/experiments", json={"name": f"mpu-{uuid.uuid4().hex[:8]}", "owner": "t"}
    )
    run = http.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={}).json()
    return f"{uuid.UUID(experiment.json()['id']).hex}/{uuid.UUID(run['id']).hex}/artifacts"


class TestMlflowClient:
    def test_server_info_advertises_multipart_uploads_and_downloads(
        self, s3_server: LiveServer
    ) -> None:
        info = httpx.get(f"{s3_server.url}/api/3.0/mlflow/server-info").json()
        assert info["multipart_uploads_enabled"] is True
        assert info["multipart_downloads_enabled"] is True  # ARTIFACT_PRESIGNED_DOWNLOADS

    def test_a_large_file_goes_up_in_parts(
        self,
        multipart_client: str,
        tmp_path: Path,
        bucket: S3Bucket,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        created: list[int] = []
        real_create = HttpArtifactRepository.create_multipart_upload

        def counting_create(
            self: Any, local_file: str, num_parts: int = 1, artifact_path: Any = None
        ) -> Any:
            created.append(num_parts)
            return real_create(self, local_file, num_parts, artifact_path)

        monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", counting_create)
        ranged: list[int] = []
        real_download = HttpArtifactRepository._multipart_download

        def counting_download(self: Any, presigned_response: Any, *args: Any, **kw: Any) -> Any:
            ranged.append(presigned_response.file_size)
            return real_download(self, presigned_response, *args, **kw)

        monkeypatch.setattr(HttpArtifactRepository, "_multipart_download", counting_download)
        large = tmp_path / "weights.bin"
        large.write_bytes(os.urandom(5 * PART + 123))
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(large), artifact_path="model")
        assert created == [6]

        keys = [k for k in bucket.object_keys() if f"/{run.info.run_id}/artifacts/" in k]
        assert [k.split("/artifacts/", 1)[1] for k in keys] == ["model/weights.bin"]
        assert bucket.read(keys[0]) == large.read_bytes()
        back = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "d")
        )
        assert Path(back).read_bytes() == large.read_bytes()
        assert ranged == [large.stat().st_size]  # read from the bucket through a presigned URL


class TestPresignedDownload:
    def test_the_url_reads_the_file_from_the_bucket(self, s3_server: LiveServer) -> None:
        with httpx.Client(base_url=s3_server.url, timeout=30) as http:
            run_dir = _run_dir(http)
            url = f"/api/2.0/mlflow-artifacts/artifacts/{run_dir}/p.txt"
            assert http.put(url, content=b"presigned").status_code == 200
            signed = http.get(f"/api/2.0/mlflow-artifacts/presigned/{run_dir}/p.txt").json()
            assert signed["file_size"] == 9
            assert "X-Amz-Signature=" in signed["url"]
            assert httpx.get(signed["url"], timeout=30).content == b"presigned"
            missing = http.get(f"/api/2.0/mlflow-artifacts/presigned/{run_dir}/nope.txt")
            assert missing.status_code == 404


class TestProtocol:
    def test_nothing_is_visible_before_complete_and_nothing_stays_after_abort(
        self, s3_server: LiveServer, bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=s3_server.url, timeout=30) as http:
            run_dir = _run_dir(http)
            started = http.post(
                f"{MPU}/create/{run_dir}/big", json={"path": "/tmp/x/big.bin", "num_parts": 2}
            )
            assert started.status_code == 200, started.text
            body = started.json()
            credentials = body["credentials"]
            assert [c["part_number"] for c in credentials] == [1, 2]
            part = httpx.put(credentials[0]["url"], content=b"a" * 100, timeout=30)
            assert part.status_code == 200, part.text
            assert part.headers["etag"]

            listing = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": run_dir})
            assert listing.json() == {}  # the parts are nowhere to be seen
            beyond = httpx.put(credentials[0]["url"].replace("/1/", "/3/"), content=b"x")
            assert beyond.status_code == 400
            forged = httpx.put(credentials[0]["url"].replace(body["upload_id"], "0" * 32))
            assert forged.status_code == 404

            aborted = http.post(
                f"{MPU}/abort/{run_dir}/big",
                json={"path": "/tmp/x/big.bin", "upload_id": body["upload_id"]},
            )
            assert aborted.status_code == 200
            assert not [k for k in bucket.object_keys() if run_dir.split("/")[1] in k]
            again = http.post(
                f"{MPU}/abort/{run_dir}/big",
                json={"path": "/tmp/x/big.bin", "upload_id": body["upload_id"]},
            )
            assert again.status_code == 200  # a retried abort
            late = http.post(
                f"{MPU}/complete/{run_dir}/big",
                json={
                    "path": "big.bin",
                    "upload_id": body["upload_id"],
                    "parts": [{"part_number": 1}],
                },
            )
            assert late.status_code == 404
            assert late.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    def test_complete_joins_the_parts_in_order(
        self, s3_server: LiveServer, bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=s3_server.url, timeout=30) as http:
            run_dir = _run_dir(http)
            body = http.post(
                f"{MPU}/create/{run_dir}", json={"path": "C:\\data\\joined.txt", "num_parts": 3}
            ).json()
            for credential in reversed(body["credentials"]):
                data = str(credential["part_number"]).encode() * 3
                assert httpx.put(credential["url"], content=data).status_code == 200
            done = http.post(
                f"{MPU}/complete/{run_dir}",
                json={
                    "path": "C:\\data\\joined.txt",
                    "upload_id": body["upload_id"],
                    "parts": [{"part_number": n, "etag": "x"} for n in (1, 2, 3)],
                },
            )
            assert done.status_code == 200, done.text
            assert http.get(
                f"/api/2.0/mlflow-artifacts/artifacts/{run_dir}/joined.txt"
            ).content == (b"111222333")
            keys = [k for k in bucket.object_keys() if run_dir.split("/")[1] in k]
            assert [k.rsplit("/", 1)[-1] for k in keys] == ["joined.txt"]
