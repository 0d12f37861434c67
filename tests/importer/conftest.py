"""Fixtures of the import tests: a real `mlflow server` (the pinned one, on its own SQLite
database and artifact folder, serving artifacts) filled through the official client, our
server in a subprocess, and `mltrail import` run as a user runs it."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sdk.live_server import LiveServer, free_port, stop_process
from tests.services_available import require_module

mlflow = require_module("mlflow", "the import tests read a real MLflow store")

from tests.importer.mlflow_store import CLIENT_ENVIRONMENT, Filled, fill  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MLFLOW = Path(sys.executable).parent / "mlflow"
START_SECONDS = 180.0  # generous: mlflow's server starts slowly on a busy machine
IMPORT_SECONDS = 600.0


class MlflowServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "mlflow.log"
        command = [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}"]
        command += ["--artifacts-destination", str(directory / "artifacts"), "--serve-artifacts"]
        command += ["--workers", "1"]
        env = {
            **os.environ,
            **CLIENT_ENVIRONMENT,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                command, cwd=directory, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        stop_process(self.process)
        raise RuntimeError(f"mlflow server did not answer in {START_SECONDS}s")

    def stop(self) -> None:
        stop_process(self.process)


def client_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    return {**env, **CLIENT_ENVIRONMENT}


@pytest.fixture(scope="module")
def mlflow_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Filled]]:
    """A running mlflow server, filled once for the module: its URL and what it holds."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        filled = fill(server.url, tmp_path_factory.mktemp("mlflow-files"))
        yield server.url, filled
    finally:
        server.stop()


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server of ours (open on loopback: the caller is an admin)."""
    server = LiveServer(tmp_path / "ours")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


def run_import(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`mltrail import ...` in a subprocess, as a user runs it."""
    command = [sys.executable, "-m", "mltrail", "import", *args]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**client_environment(), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=IMPORT_SECONDS,
    )


@pytest.fixture
def other(tmp_path: Path) -> Iterator[LiveServer]:
    """A second fresh server of ours."""
    server = LiveServer(tmp_path / "other")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """`mltrail --url URL ...` in a subprocess."""
    command = [sys.executable, "-m", "mltrail", "--url", url, *args]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**client_environment(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=IMPORT_SECONDS,
    )
