"""Who may start, complete and abort a multipart upload whose parts go straight to the bucket
(ARTIFACT_PRESIGNED_UPLOADS on an `s3://` root): the same as every artifact write, checked on
the same canonical path. No key: 401; a member writing to an experiment that is not theirs:
403, and the upload the owner started is left as it was; the owner: done."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mltrail.cli import app
from tests.objstore.s3 import Moto, S3Bucket
from tests.sdk.live_server import LiveServer

MPU = "/api/2.0/mlflow-artifacts/mpu"


@dataclass
class Secured:
    server: LiveServer
    bucket: S3Bucket
    admin: dict[str, str]
    member: dict[str, str]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> Iterator[Secured]:
    """A server with AUTH_ENABLED=true over a bucket, an admin's key made in its database
    (`keys create --admin`) and a member's key made through the API."""
    directory: Path = tmp_path_factory.mktemp("presigned-secured")
    database_url = f"sqlite:///{directory / 't.db'}"
    created = CliRunner().invoke(
        app, ["keys", "create", "--admin", "--json"], env={"DATABASE_URL": database_url}
    )
    assert created.exit_code == 0, created.output
    admin = {"X-API-Key": json.loads(created.stdout)["key"]}
    bucket = moto.bucket()
    server = LiveServer(
        directory,
        {**bucket.server_env(), "AUTH_ENABLED": "true", "DATABASE_URL": database_url},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
            user = http.post("/api/v1/users", json={"name": "bob", "role": "member"})
            assert user.status_code == 201, user.text
            key = http.post(f"/api/v1/users/{user.json()['id']}/keys", json={})
            assert key.status_code == 201, key.text
        yield Secured(server, bucket, admin, {"X-API-Key": key.json()["key"]})
    finally:
        server.stop()


def _admins_run_dir(secured: Secured) -> str:
    with httpx.Client(base_url=secured.server.url, headers=secured.admin, timeout=30) as http:
        experiment = http.post("/api/v1/experiments", json={"name": f"mine-{uuid.uuid4().hex[:8]}"})
        assert experiment.status_code == 201, experiment.text
        run = http.post(f"/api/v1/experiments/{experiment.json()['id']}/runs", json={})
        assert run.status_code == 201, run.text
    return f"{uuid.UUID(experiment.json()['id']).hex}/{uuid.UUID(run.json()['id']).hex}/artifacts"


class TestWhoMayUpload:
    def test_only_a_writer_of_the_run_starts_completes_or_aborts(self, secured: Secured) -> None:
        url = secured.server.url
        run_dir = _admins_run_dir(secured)
        body = {"path": "w.bin", "num_parts": 1}
        assert httpx.post(f"{url}{MPU}/create/{run_dir}", json=body).status_code == 401
        refused = httpx.post(f"{url}{MPU}/create/{run_dir}", json=body, headers=secured.member)
        assert refused.status_code == 403, refused.text
        assert run_dir.split("/")[1] not in secured.bucket.pending_uploads()

        started = httpx.post(f"{url}{MPU}/create/{run_dir}", json=body, headers=secured.admin)
        assert started.status_code == 200, started.text
        upload_id = started.json()["upload_id"]
        [credential] = started.json()["credentials"]
        sent = httpx.put(credential["url"], content=b"w" * 10, timeout=30)  # no key: presigned
        assert sent.status_code == 200, sent.text
        parts = [{"part_number": 1, "etag": sent.headers["etag"]}]
        complete = {"path": "w.bin", "upload_id": upload_id, "parts": parts}
        abort = {"path": "w.bin", "upload_id": upload_id}
        for action, message in (("complete", complete), ("abort", abort)):
            for headers, status in (({}, 401), (secured.member, 403)):
                answer = httpx.post(f"{url}{MPU}/{action}/{run_dir}", json=message, headers=headers)
                assert answer.status_code == status, (action, answer.text)
        assert upload_id in secured.bucket.pending_uploads()  # left as it was

        done = httpx.post(
            f"{url}{MPU}/complete/{run_dir}", json=complete, headers=secured.admin, timeout=30
        )
        assert done.status_code == 200, done.text
        read = httpx.get(
            f"{url}/api/2.0/mlflow-artifacts/artifacts/{run_dir}/w.bin", headers=secured.admin
        )
        assert read.content == b"w" * 10
