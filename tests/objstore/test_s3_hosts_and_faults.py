"""Object storage as several hosts and failures see it: two server processes with separate
data directories (one database) serve, upload in parts to and delete the same bucket; the
store going away mid-upload is a 503 with Retry-After that leaves no object, mid-download
a body that ends before its Content-Length (an error for the client, never a short file),
and the next request after it is back succeeds without a restart; a purge deletes the run's
objects in the background, retrying until the store answers again; a large file goes
through the mlflow client's multipart upload with its default part size."""

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from tests.mlflow.conftest import CLEARED, CLIENT_ENVIRONMENT
from tests.objstore.s3 import Moto, Relay, S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

DEADLINE_SECONDS = 60.0
MPU = "/api/2.0/mlflow-artifacts/mpu"
MIB = 1024 * 1024
LARGE = 200 * MIB  # the file sent through the mlflow client's multipart upload
LIMIT = 4 * LARGE  # the relayed server's ARTIFACT_MAX_BYTES
# More than every buffer between the store and the client holds (the kernel's socket
# buffers of the relay, the server and the client, the store client's own), so the file is
# still streaming when the store is cut under it.
STREAMED = 40 * MIB


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


def _new_run(http: httpx.Client) -> tuple[str, str]:
    name = f"hosts-{uuid.uuid4().hex[:8]}"
    experiment = http.post("/api/v1/experiments", json={"name": name, "owner": "t"}).json()
    run = http.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}).json()
    return experiment["id"], run["id"]


def _run_keys(bucket: S3Bucket, run_id: str) -> list[str]:
    return [key for key in bucket.object_keys() if f"/{uuid.UUID(run_id).hex}/" in key]


class TestTwoHosts:
    def test_each_host_serves_and_deletes_what_the_other_stored(
        self, s3_hosts: tuple[LiveServer, LiveServer], bucket: S3Bucket
    ) -> None:
        first, second = s3_hosts
        with (
            httpx.Client(base_url=first.url, timeout=30) as a,
            httpx.Client(base_url=second.url, timeout=30) as b,
        ):
            experiment_id, run_id = _new_run(a)
            body = os.urandom(2 * 1024 * 1024)
            assert a.put(f"/api/v1/runs/{run_id}/artifacts/m.bin", content=body).is_success
            assert b.get(f"/api/v1/runs/{run_id}/artifacts/m.bin").content == body
            listed = b.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"]
            assert [f["path"] for f in listed] == ["m.bin"]

            # A multipart upload started on one host, its parts sent to the other.
            run_dir = f"{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"
            started = a.post(f"{MPU}/create/{run_dir}", json={"path": "p.bin", "num_parts": 2})
            for credential in started.json()["credentials"]:
                url = credential["url"].replace(first.url, second.url)
                assert httpx.put(url, content=b"p" * 10).status_code == 200
            done = b.post(
                f"{MPU}/complete/{run_dir}",
                json={
                    "path": "p.bin",
                    "upload_id": started.json()["upload_id"],
                    "parts": [{"part_number": 1}, {"part_number": 2}],
                },
            )
            assert done.status_code == 200, done.text
            assert a.get(f"/api/v1/runs/{run_id}/artifacts/p.bin").content == b"p" * 20

            assert b.delete(f"/api/v1/runs/{run_id}/artifacts/m.bin").status_code == 204
            assert a.get(f"/api/v1/runs/{run_id}/artifacts/m.bin").status_code == 404
            assert [k.rsplit("/", 1)[-1] for k in _run_keys(bucket, run_id)] == ["p.bin"]

            # Purged on one host: the objects go, whichever host stored them.
            assert b.delete(f"/api/v1/runs/{run_id}", params={"purge": "true"}).status_code == 204
            _wait_for(lambda: _run_keys(bucket, run_id) == [], "the purged run's objects gone")


@pytest.fixture(scope="module")
def _relayed(
    tmp_path_factory: pytest.TempPathFactory, moto: Moto
) -> Iterator[tuple[LiveServer, Relay, S3Bucket]]:
    relay = Relay(moto.port)
    relay.start()
    bucket = moto.bucket(endpoint=relay.url)
    env = {**bucket.server_env(), "AUTH_ENABLED": "false", "ARTIFACT_MAX_BYTES": str(LIMIT)}
    server = LiveServer(tmp_path_factory.mktemp("relayed"), env)
    try:
        server.start()
        yield server, relay, bucket
    finally:
        server.stop()
        relay.stop()


@pytest.fixture
def relayed(
    _relayed: tuple[LiveServer, Relay, S3Bucket],
) -> Iterator[tuple[LiveServer, Relay, S3Bucket]]:
    """A server that reaches moto through a relay the test can cut (and is restored after)."""
    yield _relayed
    relay = _relayed[1]
    if relay.is_cut:
        relay.restore()


class TestStoreDown:
    def test_mid_upload_is_a_503_then_recovers_without_a_restart(
        self, relayed: tuple[LiveServer, Relay, S3Bucket]
    ) -> None:
        server, relay, bucket = relayed
        with httpx.Client(base_url=server.url, timeout=60) as http:
            _, run_id = _new_run(http)

            def body() -> Iterator[bytes]:
                yield b"a" * 4 * 1024 * 1024
                relay.cut()  # the store goes away with the upload under way
                for _ in range(8):
                    yield b"b" * 1024 * 1024

            failed = http.put(f"/api/v1/runs/{run_id}/artifacts/cut.bin", content=body())
            assert failed.status_code == 503, failed.text
            assert int(failed.headers["retry-after"]) >= 1
            assert "Artifact storage" in failed.json()["detail"]
            down = http.get(f"/api/v1/runs/{run_id}/artifacts/cut.bin")
            assert down.status_code == 503

            relay.restore()
            assert _run_keys(bucket, run_id) == []  # nothing half-written
            assert http.get(f"/api/v1/runs/{run_id}/artifacts").json()["files"] == []
            data = os.urandom(12 * 1024 * 1024)
            again = http.put(f"/api/v1/runs/{run_id}/artifacts/cut.bin", content=data)
            assert again.status_code == 201, again.text
            assert http.get(f"/api/v1/runs/{run_id}/artifacts/cut.bin").content == data

    def test_a_purge_while_the_store_is_down_deletes_once_it_is_back(
        self, relayed: tuple[LiveServer, Relay, S3Bucket]
    ) -> None:
        server, relay, bucket = relayed
        with httpx.Client(base_url=server.url, timeout=60) as http:
            experiment_id, run_id = _new_run(http)
            for name in ("a.txt", "d/b.txt"):
                assert http.put(f"/api/v1/runs/{run_id}/artifacts/{name}", content=b"x").is_success
            relay.cut()
            purged = http.delete(f"/api/v1/experiments/{experiment_id}", params={"purge": "true"})
            assert purged.status_code == 204  # not held up by the store
            assert len(_run_keys(bucket, run_id)) == 2
            relay.restore()
            _wait_for(lambda: _run_keys(bucket, run_id) == [], "the purged objects gone")

    def test_mid_download_the_body_fails_and_a_download_while_down_is_a_503(
        self, relayed: tuple[LiveServer, Relay, S3Bucket]
    ) -> None:
        server, relay, _ = relayed
        with httpx.Client(base_url=server.url, timeout=60) as http:
            experiment_id, run_id = _new_run(http)
            data = os.urandom(STREAMED)
            v1 = f"/api/v1/runs/{run_id}/artifacts/big.bin"
            assert http.put(v1, content=data).status_code == 201
            run_dir = f"{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"
            mlflow_route = f"/api/2.0/mlflow-artifacts/artifacts/{run_dir}/big.bin"

            # Our SDK reads with httpx: the body ends before its Content-Length, an error.
            with http.stream("GET", v1) as response:
                assert response.status_code == 200
                assert int(response.headers["content-length"]) == STREAMED
                relay.cut()
                received = 0
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    for chunk in response.iter_raw():
                        received += len(chunk)
                assert received < STREAMED
            relay.restore()

            # The mlflow client reads with requests (`iter_content`): an error too.
            with requests.get(f"{server.url}{mlflow_route}", stream=True, timeout=60) as got:
                assert got.status_code == 200
                assert int(got.headers["content-length"]) == STREAMED
                relay.cut()
                with pytest.raises(requests.exceptions.ChunkedEncodingError):
                    for _ in got.iter_content(chunk_size=MIB):
                        pass

            for url in (v1, mlflow_route):
                down = http.get(url)
                assert down.status_code == 503, (url, down.text)
                assert int(down.headers["retry-after"]) >= 1

            relay.restore()  # no restart of the server
            assert http.get(v1).content == data
            assert http.get(mlflow_route).content == data


class TestLargeFile:
    def test_200_mib_through_the_mlflow_clients_multipart_upload(
        self,
        relayed: tuple[LiveServer, Relay, S3Bucket],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With the client's default part size (10 MiB): 20 parts; its threshold (500 MB by
        default) is lowered to the file's size. The server keeps ARTIFACT_PRESIGNED_UPLOADS at
        its default: the parts go to the bucket (through the relay) by presigned URLs."""
        mlflow = require_module("mlflow", "the large-file test drives the real mlflow client")
        server, _, bucket = relayed
        size = LARGE
        large = tmp_path / "large.bin"
        with large.open("wb") as out:
            for _ in range(size // (8 * MIB)):
                out.write(os.urandom(8 * MIB))
        for name in (*CLEARED, "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"):
            monkeypatch.delenv(name, raising=False)
        for name, value in CLIENT_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", raising=False)
        monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(size))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        mlflow.set_tracking_uri(server.url)
        from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

        created: list[int] = []
        real_create = HttpArtifactRepository.create_multipart_upload

        def counting_create(
            self: Any, local_file: str, num_parts: int = 1, artifact_path: Any = None
        ) -> Any:
            created.append(num_parts)
            return real_create(self, local_file, num_parts, artifact_path)

        monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", counting_create)
        mlflow.set_experiment("s3-large-file")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(large))
        assert created == [20]  # 200 MiB in parts of 10 MiB
        run_id = run.info.run_id
        try:
            keys = _run_keys(bucket, run_id)
            assert [key.rsplit("/", 1)[-1] for key in keys] == ["large.bin"]
            back = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="large.bin", dst_path=str(tmp_path / "back")
            )
            assert _sha256(Path(back)) == _sha256(large)
        finally:
            # moto keeps its objects in memory: give the file's memory back.
            httpx.delete(f"{server.url}/api/v1/runs/{run_id}/artifacts/large.bin", timeout=60)
            large.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()
