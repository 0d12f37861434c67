"""Object storage as several hosts and failures see it: two server processes with separate
data directories (one database) serve, upload in parts to and delete the same bucket; the
store going away mid-upload is a 503 with Retry-After that leaves no object, and the next
request after it is back succeeds without a restart; a purge deletes the run's objects in
the background, retrying until the store answers again."""

import os
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.objstore.s3 import Moto, Relay, S3Bucket
from tests.sdk.live_server import LiveServer

DEADLINE_SECONDS = 60.0
MPU = "/api/2.0/mlflow-artifacts/mpu"


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
    env = {**bucket.server_env(), "AUTH_ENABLED": "false", "ARTIFACT_MAX_BYTES": "50000000"}
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
