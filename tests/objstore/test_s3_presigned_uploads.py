"""MLflow's multipart upload with the parts sent straight to the bucket (ARTIFACT_PRESIGNED_UPLOADS,
on by default for `s3://` roots): `mpu/create` starts S3's own multipart upload and returns a
presigned `upload_part` URL per part, the client PUTs the parts to S3, `mpu/complete` has S3
join them, `mpu/abort` drops them.

The servers here reach moto through a relay that a test can cut (the store is down) and a
proxy behind it (`PartDroppingProxy` on S3's part PUTs), so the presigned URLs name the relay:
the proxy sees, and counts, every part the client sends, and can cut one. moto holds S3's
rule that every part but the last has at least 5 MiB, so the client's part size is 5 MiB
here and a file of 2 parts and a bit takes 3 parts."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mlflow.conftest import point_mlflow_at
from tests.objstore.part_proxy import S3_PART, PartDroppingProxy
from tests.objstore.s3 import Moto, Relay, S3Bucket
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

mlflow = require_module("mlflow", "the multipart tests drive the real mlflow client")

from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository  # noqa: E402

PART = 5 * 1024 * 1024
LIMIT = 12 * 1024 * 1024
MPU = "/api/2.0/mlflow-artifacts/mpu"


@pytest.fixture(scope="module")
def s3_proxy(moto: Moto) -> Iterator[PartDroppingProxy]:
    proxy = PartDroppingProxy(moto.port, drop_part=None, part=S3_PART)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def s3_relay(s3_proxy: PartDroppingProxy) -> Iterator[Relay]:
    relay = Relay(s3_proxy.port)
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def presigned_bucket(moto: Moto, s3_relay: Relay) -> S3Bucket:
    return moto.bucket(endpoint=s3_relay.url)


@pytest.fixture(scope="module")
def _presigned_hosts(
    tmp_path_factory: pytest.TempPathFactory, presigned_bucket: S3Bucket
) -> Iterator[tuple[LiveServer, LiveServer]]:
    first = LiveServer(
        tmp_path_factory.mktemp("presigned-host-1"),
        {
            **presigned_bucket.server_env(),  # ARTIFACT_PRESIGNED_UPLOADS left at its default
            "AUTH_ENABLED": "false",
            "ARTIFACT_MAX_BYTES": str(LIMIT),
        },
    )
    first.start()
    second = LiveServer(
        tmp_path_factory.mktemp("presigned-host-2"),
        {**first.env, "DATABASE_URL": f"sqlite:///{first.database}", "MIGRATE_ON_START": "false"},
    )
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture
def hosts(
    _presigned_hosts: tuple[LiveServer, LiveServer],
    s3_proxy: PartDroppingProxy,
    s3_relay: Relay,
) -> tuple[LiveServer, LiveServer]:
    """Two hosts over one database and one bucket, parts sent to the bucket through URLs."""
    if s3_relay.is_cut:
        s3_relay.restore()
    for host in _presigned_hosts:
        if not host.running:
            host.start()
    s3_proxy.reset(drop_part=None)
    return _presigned_hosts


@pytest.fixture
def client(
    hosts: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Any]]:
    """The mlflow client at the first host, multipart from 5 MiB in parts of 5 MiB; the
    answers of its `mpu/create` calls."""
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    created: list[Any] = []
    real_create = HttpArtifactRepository.create_multipart_upload

    def recording_create(
        self: Any, local_file: str, num_parts: int = 1, artifact_path: Any = None
    ) -> Any:
        answer = real_create(self, local_file, num_parts, artifact_path)
        created.append(answer)
        return answer

    monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", recording_create)
    for _ in point_mlflow_at(hosts[0].url, monkeypatch):
        yield created


def _large(tmp_path: Path) -> Path:
    large = tmp_path / "weights.bin"
    large.write_bytes(os.urandom(2 * PART + 123))
    return large


def _run_keys(bucket: S3Bucket, run_id: str) -> list[str]:
    return [key for key in bucket.object_keys() if f"/{run_id}/" in key]


def _run_dir(http: httpx.Client) -> str:
    experiment = http.post(
        "/api/v1/experiments", json={"name": f"presign-{uuid.uuid4().hex[:8]}", "owner": "t"}
    )
    run = http.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={}).json()
    return f"{uuid.UUID(experiment.json()['id']).hex}/{uuid.UUID(run['id']).hex}/artifacts"


def _send_parts(credentials: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """PUT each part to its URL as the client does; the parts as `mpu/complete` takes them."""
    parts = []
    for credential, size in zip(credentials, sizes, strict=True):
        sent = httpx.put(
            credential["url"], content=b"p" * size, headers=credential["headers"], timeout=60
        )
        assert sent.status_code == 200, sent.text
        parts.append({"part_number": credential["part_number"], "etag": sent.headers["etag"]})
    return parts


class TestMlflowClient:
    def test_the_parts_go_to_the_bucket_and_the_file_comes_back_whole(
        self,
        client: list[Any],
        hosts: tuple[LiveServer, LiveServer],
        s3_proxy: PartDroppingProxy,
        presigned_bucket: S3Bucket,
        tmp_path: Path,
    ) -> None:
        info = httpx.get(f"{hosts[0].url}/api/3.0/mlflow/server-info").json()
        assert info["multipart_uploads_enabled"] is True
        large = _large(tmp_path)
        mlflow.set_experiment("s3-presigned-upload")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(large), artifact_path="model")

        [created] = client
        urls = [credential.url for credential in created.credentials]
        assert len(urls) == 3
        assert all(
            url.startswith(f"{presigned_bucket.endpoint}/{presigned_bucket.name}/") for url in urls
        )
        assert all("X-Amz-Signature=" in url for url in urls)
        assert sorted(s3_proxy.parts) == [1, 2, 3]  # every part went to S3, none to us
        keys = _run_keys(presigned_bucket, run.info.run_id)
        assert [key.split("/artifacts/", 1)[1] for key in keys] == ["model/weights.bin"]
        assert presigned_bucket.read(keys[0]) == large.read_bytes()
        back = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "d")
        )
        assert Path(back).read_bytes() == large.read_bytes()
        assert run.info.run_id not in presigned_bucket.pending_uploads()

    def test_a_dropped_part_fails_the_upload_leaving_nothing_and_logging_again_stores_it(
        self,
        client: list[Any],
        s3_proxy: PartDroppingProxy,
        presigned_bucket: S3Bucket,
        tmp_path: Path,
    ) -> None:
        # mlflow 3.x sends each part once (`HttpArtifactRepository._upload_part` is a plain
        # `requests.put`, no retry): a part that fails makes it abort the upload and raise.
        s3_proxy.reset(drop_part=2)
        large = _large(tmp_path)
        mlflow.set_experiment("s3-presigned-dropped-part")
        with mlflow.start_run() as run:
            with pytest.raises(MlflowException, match="Failed to upload at least one part"):
                mlflow.log_artifact(str(large), artifact_path="model")
            assert s3_proxy.dropped == 1
            run_id = run.info.run_id
            assert _run_keys(presigned_bucket, run_id) == []
            assert run_id not in presigned_bucket.pending_uploads()  # aborted in S3
            assert mlflow.MlflowClient().list_artifacts(run_id) == []

            mlflow.log_artifact(str(large), artifact_path="model")
        assert sorted(s3_proxy.parts) == [1, 1, 2, 2, 3, 3]
        keys = _run_keys(presigned_bucket, run_id)
        assert [key.split("/artifacts/", 1)[1] for key in keys] == ["model/weights.bin"]
        assert presigned_bucket.read(keys[0]) == large.read_bytes()


class TestProtocol:
    def test_a_part_resent_to_its_url_completes_on_the_other_host(
        self,
        hosts: tuple[LiveServer, LiveServer],
        s3_proxy: PartDroppingProxy,
        presigned_bucket: S3Bucket,
    ) -> None:
        first, second = hosts
        s3_proxy.reset(drop_part=1)
        with httpx.Client(base_url=first.url, timeout=60) as http:
            run_dir = _run_dir(http)
            body = {"path": "/data/two.bin", "num_parts": 2}
            started = http.post(f"{MPU}/create/{run_dir}", json=body)
        assert started.status_code == 200, started.text
        created = started.json()
        credentials = created["credentials"]
        assert [c["part_number"] for c in credentials] == [1, 2]
        assert [c["headers"] for c in credentials] == [{}, {}]
        with pytest.raises(httpx.TransportError):
            httpx.put(credentials[0]["url"], content=b"a" * PART, timeout=60)
        parts = _send_parts(credentials, [PART, 10])  # part 1 again, to the same URL
        assert s3_proxy.parts == [1, 1, 2]
        listing = httpx.get(
            f"{first.url}/api/2.0/mlflow-artifacts/artifacts", params={"path": run_dir}
        )
        assert listing.json() == {}  # not visible before complete

        done = httpx.post(
            f"{second.url}{MPU}/complete/{run_dir}",
            json={"path": "/data/two.bin", "upload_id": created["upload_id"], "parts": parts},
            timeout=60,
        )
        assert done.status_code == 200, done.text
        read = httpx.get(f"{first.url}/api/2.0/mlflow-artifacts/artifacts/{run_dir}/two.bin")
        assert read.content == b"p" * (PART + 10)
        assert created["upload_id"] not in presigned_bucket.pending_uploads()

    def test_complete_past_the_limit_is_413_and_leaves_nothing(
        self, hosts: tuple[LiveServer, LiveServer], presigned_bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            body = {"path": "big.bin", "num_parts": 3}
            created = http.post(f"{MPU}/create/{run_dir}", json=body).json()
            parts = _send_parts(created["credentials"], [PART, PART, LIMIT - 2 * PART + 1])
            done = http.post(
                f"{MPU}/complete/{run_dir}",
                json={"path": "big.bin", "upload_id": created["upload_id"], "parts": parts},
            )
            assert done.status_code == 413, done.text
            assert "ARTIFACT_MAX_BYTES" in done.json()["message"]
            assert _run_keys(presigned_bucket, run_dir.split("/")[1]) == []
            assert created["upload_id"] not in presigned_bucket.pending_uploads()
            again = http.post(
                f"{MPU}/complete/{run_dir}",
                json={"path": "big.bin", "upload_id": created["upload_id"], "parts": parts},
            )
            assert again.status_code == 404  # aborted: it can never complete

    def test_abort_leaves_nothing_and_may_be_retried(
        self, hosts: tuple[LiveServer, LiveServer], presigned_bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            body = {"path": "gone.bin", "num_parts": 2}
            created = http.post(f"{MPU}/create/{run_dir}", json=body).json()
            _send_parts(created["credentials"][:1], [PART])
            assert created["upload_id"] in presigned_bucket.pending_uploads()
            abort = {"path": "gone.bin", "upload_id": created["upload_id"]}
            assert http.post(f"{MPU}/abort/{run_dir}", json=abort).status_code == 200
            assert created["upload_id"] not in presigned_bucket.pending_uploads()
            assert _run_keys(presigned_bucket, run_dir.split("/")[1]) == []
            assert http.post(f"{MPU}/abort/{run_dir}", json=abort).status_code == 200
            late = http.post(
                f"{MPU}/complete/{run_dir}",
                json={**abort, "parts": [{"part_number": 1, "etag": "x"}]},
            )
            assert late.status_code == 404
            assert late.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    def test_the_upload_id_is_bound_to_its_file(
        self, hosts: tuple[LiveServer, LiveServer], presigned_bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            created = http.post(
                f"{MPU}/create/{run_dir}", json={"path": "a.bin", "num_parts": 1}
            ).json()
            parts = _send_parts(created["credentials"], [10])
            other = http.post(
                f"{MPU}/complete/{run_dir}",
                json={"path": "b.bin", "upload_id": created["upload_id"], "parts": parts},
            )
            assert other.status_code == 404, other.text
            unsent = http.post(
                f"{MPU}/complete/{run_dir}",
                json={
                    "path": "a.bin",
                    "upload_id": created["upload_id"],
                    "parts": [*parts, {"part_number": 2, "etag": "x"}],
                },
            )
            assert unsent.status_code == 400
            assert "part 2" in unsent.json()["message"]
            assert _run_keys(presigned_bucket, run_dir.split("/")[1]) == []
            elsewhere = {"path": "b.bin", "upload_id": created["upload_id"]}
            assert http.post(f"{MPU}/abort/{run_dir}", json=elsewhere).status_code == 200
            assert created["upload_id"] in presigned_bucket.pending_uploads()  # not a.bin's
            abort = {"path": "a.bin", "upload_id": created["upload_id"]}
            assert http.post(f"{MPU}/abort/{run_dir}", json=abort).status_code == 200
            assert created["upload_id"] not in presigned_bucket.pending_uploads()

    def test_a_small_part_before_the_last_is_refused_naming_s3s_rule(
        self, hosts: tuple[LiveServer, LiveServer], presigned_bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            body = {"path": "small.bin", "num_parts": 2}
            created = http.post(f"{MPU}/create/{run_dir}", json=body).json()
            parts = _send_parts(created["credentials"], [10, 10])
            done = http.post(
                f"{MPU}/complete/{run_dir}",
                json={"path": "small.bin", "upload_id": created["upload_id"], "parts": parts},
            )
            assert done.status_code == 400, done.text
            assert "EntityTooSmall" in done.json()["message"]
            assert _run_keys(presigned_bucket, run_dir.split("/")[1]) == []
            abort = {"path": "small.bin", "upload_id": created["upload_id"]}
            assert http.post(f"{MPU}/abort/{run_dir}", json=abort).status_code == 200

    def test_a_directory_in_the_way_is_refused_at_create_and_at_complete(
        self, hosts: tuple[LiveServer, LiveServer], presigned_bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            files = f"/api/2.0/mlflow-artifacts/artifacts/{run_dir}"
            assert http.put(f"{files}/taken/inner.txt", content=b"x").status_code == 200
            refused = http.post(f"{MPU}/create/{run_dir}", json={"path": "taken", "num_parts": 1})
            assert refused.status_code == 400
            assert "directory" in refused.json()["message"]

            created = http.post(
                f"{MPU}/create/{run_dir}", json={"path": "later", "num_parts": 1}
            ).json()
            parts = _send_parts(created["credentials"], [10])
            assert http.put(f"{files}/later/inner.txt", content=b"x").status_code == 200
            done = http.post(
                f"{MPU}/complete/{run_dir}",
                json={"path": "later", "upload_id": created["upload_id"], "parts": parts},
            )
            assert done.status_code == 400
            assert http.get(f"{files}/later/inner.txt").content == b"x"
            assert created["upload_id"] not in presigned_bucket.pending_uploads()


class TestStoreDown:
    def test_complete_while_the_store_is_down_is_503_and_succeeds_once_it_is_back(
        self,
        hosts: tuple[LiveServer, LiveServer],
        s3_relay: Relay,
        presigned_bucket: S3Bucket,
    ) -> None:
        with httpx.Client(base_url=hosts[0].url, timeout=60) as http:
            run_dir = _run_dir(http)
            body = {"path": "later.bin", "num_parts": 2}
            created = http.post(f"{MPU}/create/{run_dir}", json=body).json()
            parts = _send_parts(created["credentials"], [PART, 10])
            complete = {"path": "later.bin", "upload_id": created["upload_id"], "parts": parts}
            s3_relay.cut()
            down = http.post(f"{MPU}/complete/{run_dir}", json=complete)
            assert down.status_code == 503, down.text
            assert int(down.headers["retry-after"]) > 0
            assert _run_keys(presigned_bucket, run_dir.split("/")[1]) == []
            s3_relay.restore()
            done = http.post(f"{MPU}/complete/{run_dir}", json=complete)
            assert done.status_code == 200, done.text
            read = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{run_dir}/later.bin")
            assert read.content == b"p" * (PART + 10)
