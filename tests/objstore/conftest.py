"""Fixtures of the object-storage tests: one `moto_server` for the session, a fresh bucket
per server, and live tracking servers whose ARTIFACT_ROOT is an `s3://` URL on it."""

from collections.abc import Iterator

import pytest

from tests.objstore.s3 import Moto, S3Bucket
from tests.sdk.live_server import LiveServer


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bucket(moto: Moto) -> S3Bucket:
    """The bucket the shared server keeps its artifacts in."""
    return moto.bucket()


@pytest.fixture(scope="session")
def _s3_server(tmp_path_factory: pytest.TempPathFactory, bucket: S3Bucket) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("s3-server"),
        {
            **bucket.server_env(),
            "AUTH_ENABLED": "false",
            "ARTIFACT_MAX_BYTES": str(20 * 1024**2),
            # The mlflow client then downloads straight from the bucket (ranged GETs).
            "ARTIFACT_PRESIGNED_DOWNLOADS": "true",
            # Multipart parts through this server (the path of gs://, az:// and local roots);
            # test_s3_presigned_uploads.py runs the s3:// default, parts straight to the bucket.
            "ARTIFACT_PRESIGNED_UPLOADS": "false",
        },
    )
    live.start()
    yield live
    live.stop()


@pytest.fixture
def s3_server(_s3_server: LiveServer) -> LiveServer:
    """A tracking server with ARTIFACT_ROOT=s3://<bucket>/team/tracker, shared by the tests."""
    if not _s3_server.running:
        _s3_server.start()
    return _s3_server


@pytest.fixture(scope="session")
def _s3_second_host(
    tmp_path_factory: pytest.TempPathFactory, _s3_server: LiveServer, bucket: S3Bucket
) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("s3-second-host"),
        {
            **_s3_server.env,
            "DATABASE_URL": f"sqlite:///{_s3_server.database}",
            "MIGRATE_ON_START": "false",
        },
    )
    live.start()
    yield live
    live.stop()


@pytest.fixture
def s3_hosts(s3_server: LiveServer, _s3_second_host: LiveServer) -> tuple[LiveServer, LiveServer]:
    """Two server processes with data directories of their own, over one database and one
    bucket: two hosts behind a load balancer."""
    if not _s3_second_host.running:
        _s3_second_host.start()
    return s3_server, _s3_second_host
