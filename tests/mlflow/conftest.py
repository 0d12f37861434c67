"""Fixtures of the MLflow compatibility tests: a live server (`uvicorn mltrail_server.main:app` in a
subprocess on a free port) once on SQLite and once on a fresh PostgreSQL database, driven by
the official `mlflow` client over real HTTP.

The client is told not to retry (`MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`), so a 5xx fails a test at
once instead of after minutes of backoff.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import RUN_ID, _create_postgres_database, _drop_postgres_database
from tests.sdk.live_server import free_port, spawn_uvicorn, stop_process, wait_until_healthy
from tests.services_available import REDIS_URL, require_module, require_postgres, require_redis

# Under CI=true a missing mlflow fails the run instead of skipping these tests silently.
mlflow = require_module("mlflow", "the MLflow tests drive the real mlflow client")

from mlflow.tracking import MlflowClient  # noqa: E402

ARTIFACT_MAX_BYTES = 1024 * 1024
CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}
CLEARED = (
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


@dataclass
class LiveServer:
    """A server process; `url` is what MLFLOW_TRACKING_URI is set to."""

    backend: str
    url: str
    artifact_root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def _start(
    backend: str,
    database_url: str,
    redis_url: str,
    directory: Path,
    extra: dict[str, str] | None = None,
) -> LiveServer:
    port = free_port()
    log = directory / "server.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"mltrail-mlflow-test-{RUN_ID}:",
        "DATA_DIR": str(directory),
        "ARTIFACT_MAX_BYTES": str(ARTIFACT_MAX_BYTES),
        "LOG_LEVEL": "WARNING",
        "MIGRATE_ON_START": "true",
        "HOST": "127.0.0.1",
        "AUTH_ENABLED": "false",
        **(extra or {}),
    }
    process = spawn_uvicorn(port, environment, log)
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log)
    except RuntimeError:
        stop_process(process)
        raise
    return LiveServer(backend, f"http://127.0.0.1:{port}", directory / "artifacts", process, log)


def _stop(server: LiveServer) -> None:
    stop_process(server.process)


@pytest.fixture(scope="session")
def sqlite_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("mlflow-sqlite")
    server = _start("sqlite", f"sqlite:///{directory / 'tracker.db'}", "", directory)
    yield server
    _stop(server)


@pytest.fixture(scope="session")
def postgres_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_postgres()
    require_redis()
    name = f"mltrail_mlflow_{RUN_ID}"
    database_url = _create_postgres_database(name)
    directory = tmp_path_factory.mktemp("mlflow-postgres")
    server = _start("postgres", database_url, REDIS_URL, directory)
    yield server
    _stop(server)
    _drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    """The live server of each backend in turn."""
    live: LiveServer = request.getfixturevalue(f"{request.param}_mlflow_server")
    return live


def point_mlflow_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mlflow client (fluent and MlflowClient) pointed at `url`, with fresh state; the
    body of a fixture (`yield from`), which ends any run left open afterwards."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in CLIENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    _reset_fluent_state()
    yield url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    _reset_fluent_state()


@pytest.fixture
def tracking_uri(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The mlflow client (fluent and MlflowClient) pointed at the server, with fresh state."""
    yield from point_mlflow_at(server.url, monkeypatch)


def _reset_fluent_state() -> None:
    from mlflow.tracking import fluent

    fluent._active_experiment_id = None
    fluent._last_active_run_id.set(None)


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


@pytest.fixture
def v1(server: LiveServer) -> Iterator[httpx.Client]:
    """Plain HTTP to the same server (v1 and raw MLflow requests)."""
    with server.http() as http:
        yield http


def unique(prefix: str) -> str:
    """An experiment name no other test uses (the servers live for the whole session)."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"
