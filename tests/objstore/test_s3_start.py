"""What the server does at start with an object-storage ARTIFACT_ROOT: a scheme we do not
serve, or a bucket that does not answer, stops it with a line naming ARTIFACT_ROOT; and an
`s3://` root never becomes a local folder named `s3:` (it did before object storage)."""

import os
import uuid
from pathlib import Path

import httpx

from tests.objstore.s3 import S3Bucket, start_and_wait_for_exit
from tests.sdk.live_server import ROOT, LiveServer, free_port


class TestStart:
    def test_a_scheme_we_do_not_serve_stops_the_server(self, tmp_path: Path) -> None:
        code, log = start_and_wait_for_exit(tmp_path, {"ARTIFACT_ROOT": "ftp://host/artifacts"})
        assert code != 0
        assert "ARTIFACT_ROOT: Value error, ftp:// is not served" in log
        assert not (tmp_path / "ftp:").exists()

    def test_a_bucket_that_does_not_answer_stops_the_server(self, tmp_path: Path) -> None:
        endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        code, log = start_and_wait_for_exit(
            tmp_path,
            {"ARTIFACT_ROOT": "s3://team/tracker", "ARTIFACT_S3_ENDPOINT_URL": endpoint},
        )
        assert code != 0
        assert "ARTIFACT_ROOT=s3://team/tracker: the store cannot be reached" in log
        assert f"ARTIFACT_S3_ENDPOINT_URL={endpoint}" in log
        assert "Traceback" not in log

    def test_an_s3_root_writes_into_the_bucket_not_a_local_folder(
        self, s3_server: LiveServer, bucket: S3Bucket
    ) -> None:
        with httpx.Client(base_url=s3_server.url, timeout=30) as http:
            name = f"not-a-folder-{os.urandom(4).hex()}"
            experiment = http.post(
                "/api/v1/experiments", json={"name": name, "owner": "tests"}
            ).json()
            run = http.post(f"/api/v1/experiments/{experiment['id']}/runs", json={}).json()
            put = http.put(f"/api/v1/runs/{run['id']}/artifacts/a.txt", content=b"in s3")
            assert put.status_code == 201
        key = f"{uuid.UUID(run['id']).hex}/artifacts/a.txt"
        assert [k for k in bucket.object_keys() if k.endswith(key)] != []
        # Before object storage, this was where `s3://...` went: relative to the server's cwd.
        for folder in (ROOT, s3_server.directory, s3_server.directory / "artifacts"):
            assert not (folder / "s3:").exists()
