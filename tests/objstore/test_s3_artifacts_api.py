"""ARTIFACT_ROOT=s3://bucket/prefix against a real S3 endpoint (moto_server on loopback):
the v1 artifact routes and the MLflow proxied-artifact routes put the files in the bucket
under the prefix, read them back byte for byte, list them (paged past S3's 1,000 keys a
page), refuse what is too large without leaving anything behind, and delete them."""

import os
import uuid

import httpx
import pytest

from tests.objstore.s3 import S3Bucket
from tests.sdk.live_server import LiveServer


def _run(http: httpx.Client) -> tuple[str, str]:
    """A new experiment and run: (experiment id, run id)."""
    name = f"s3-{uuid.uuid4().hex[:8]}"
    experiment = http.post("/api/v1/experiments", json={"name": name, "owner": "tests"})
    assert experiment.status_code == 201, experiment.text
    experiment_id = experiment.json()["id"]
    run = http.post(f"/api/v1/experiments/{experiment_id}/runs", json={})
    run.raise_for_status()
    return experiment_id, run.json()["id"]


def _prefix(bucket: S3Bucket, experiment_id: str, run_id: str) -> str:
    return f"{bucket.prefix}/{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"


@pytest.fixture
def http(s3_server: LiveServer) -> httpx.Client:
    with httpx.Client(base_url=s3_server.url, timeout=60) as client:
        yield client  # type: ignore[misc]


class TestV1Api:
    def test_a_file_goes_to_the_bucket_and_comes_back(
        self, http: httpx.Client, bucket: S3Bucket
    ) -> None:
        experiment_id, run_id = _run(http)
        body = os.urandom(9 * 1024 * 1024 + 5)  # more than one part of the store's upload
        stored = http.put(f"/api/v1/runs/{run_id}/artifacts/model/weights v1.bin", content=body)
        assert stored.status_code == 201, stored.text
        assert stored.json() == {"path": "model/weights v1.bin", "is_dir": False, "size": len(body)}

        key = f"{_prefix(bucket, experiment_id, run_id)}/model/weights v1.bin"
        assert key in bucket.object_keys()
        assert bucket.read(key) == body
        downloaded = http.get(f"/api/v1/runs/{run_id}/artifacts/model/weights v1.bin")
        assert downloaded.status_code == 200
        assert downloaded.content == body
        assert downloaded.headers["content-disposition"].startswith("attachment")

    def test_listing_shows_files_and_directories(self, http: httpx.Client) -> None:
        _, run_id = _run(http)
        for path in ("a.txt", "plots/loss.png", "plots/deep/x.json"):
            assert http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=b"1").is_success
        root = http.get(f"/api/v1/runs/{run_id}/artifacts").json()
        assert root["files"] == [
            {"path": "a.txt", "is_dir": False, "size": 1},
            {"path": "plots", "is_dir": True, "size": None},
        ]
        plots = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "plots"}).json()
        assert [f["path"] for f in plots["files"]] == ["plots/deep", "plots/loss.png"]
        missing = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "nope"})
        assert missing.status_code == 404
        as_dir = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "a.txt"})
        assert as_dir.status_code == 422

    def test_a_file_and_a_directory_cannot_share_a_name(self, http: httpx.Client) -> None:
        _, run_id = _run(http)
        assert http.put(f"/api/v1/runs/{run_id}/artifacts/d/f.txt", content=b"x").is_success
        over_directory = http.put(f"/api/v1/runs/{run_id}/artifacts/d", content=b"x")
        assert over_directory.status_code == 422
        under_file = http.put(f"/api/v1/runs/{run_id}/artifacts/d/f.txt/g", content=b"x")
        assert under_file.status_code == 422

    def test_too_large_is_a_413_and_leaves_nothing(
        self, http: httpx.Client, bucket: S3Bucket
    ) -> None:
        experiment_id, run_id = _run(http)

        def body() -> object:
            for _ in range(21):  # 21 MiB against a 20 MiB limit, with no Content-Length
                yield b"z" * 1024 * 1024

        response = http.put(f"/api/v1/runs/{run_id}/artifacts/big.bin", content=body())
        assert response.status_code == 413
        assert "ARTIFACT_MAX_BYTES" in response.json()["detail"]
        prefix = _prefix(bucket, experiment_id, run_id)
        assert not [k for k in bucket.object_keys() if k.startswith(prefix)]
        assert "<Upload>" not in bucket.pending_uploads()

    def test_delete_removes_a_directory_with_everything_in_it(
        self, http: httpx.Client, bucket: S3Bucket
    ) -> None:
        experiment_id, run_id = _run(http)
        for path in ("keep.txt", "tmp/a", "tmp/b/c"):
            assert http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=b"1").is_success
        assert http.delete(f"/api/v1/runs/{run_id}/artifacts/tmp").status_code == 204
        prefix = _prefix(bucket, experiment_id, run_id)
        assert [k for k in bucket.object_keys() if k.startswith(prefix)] == [f"{prefix}/keep.txt"]
        assert http.delete(f"/api/v1/runs/{run_id}/artifacts/tmp").status_code == 404

    def test_a_listing_of_1200_files_is_complete(
        self, http: httpx.Client, bucket: S3Bucket
    ) -> None:
        experiment_id, run_id = _run(http)
        prefix = _prefix(bucket, experiment_id, run_id)
        names = [f"f{i:05d}.txt" for i in range(1200)]
        # Written straight into the bucket (1,200 uploads through the API would take long).
        bucket.put_many({f"{prefix}/many/{name}": b"x" for name in names})
        listed = http.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "many"}).json()
        assert [f["path"] for f in listed["files"]] == [f"many/{name}" for name in names]
        run_path = f"{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"
        mlflow = http.get(
            "/api/2.0/mlflow-artifacts/artifacts", params={"path": f"{run_path}/many"}
        ).json()
        assert len(mlflow["files"]) == 1200


class TestMlflowProxyRoutes:
    def test_put_get_list_delete(self, http: httpx.Client, bucket: S3Bucket) -> None:
        experiment_id, run_id = _run(http)
        run_path = f"{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}/artifacts"
        url = f"/api/2.0/mlflow-artifacts/artifacts/{run_path}/dir/notes.txt"
        assert http.put(url, content=b"hello").json() == {}
        assert f"{bucket.prefix}/{uuid.UUID(experiment_id).hex}/{uuid.UUID(run_id).hex}" in (
            "/".join(k.split("/")[:4]) for k in bucket.object_keys()
        )
        assert http.get(url).content == b"hello"
        listing = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": run_path})
        assert listing.json() == {"files": [{"path": "dir", "is_dir": True}]}
        assert http.delete(url).json() == {}
        assert http.get(url).status_code == 404


def test_the_bucket_holds_nothing_outside_the_prefix(bucket: S3Bucket) -> None:
    """Nothing the other tests wrote is outside ARTIFACT_ROOT's prefix."""
    assert all(key.startswith(f"{bucket.prefix}/") for key in bucket.object_keys())
