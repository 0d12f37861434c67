"""Fixtures of the SDK tests: a live server (`uvicorn mltrail_server.main:app` in a subprocess,
on a free port, over a fresh SQLite database) reached over real HTTP, which a test can kill
and start again (same port, same database) to see what the SDK does when the server goes
away."""

from collections.abc import Iterator
from pathlib import Path

import pytest

import mltrail
from mltrail.config import Settings
from tests.sdk.live_server import LiveServer


@pytest.fixture(scope="session")
def _live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server"))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def server(_live_server: LiveServer) -> LiveServer:
    """The live server, shared by all the SDK tests. A test may kill it; the next test to
    ask for it finds it started again (same port, same database)."""
    if not _live_server.running:
        _live_server.start()
    return _live_server


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "MLTRAIL_URL",
        "MLTRAIL_API_KEY",
        "MLTRAIL_USER",
        "MLTRAIL_SPOOL_DIR",
        "MLTRAIL_SYSTEM_METRICS",
        "MLTRAIL_SYSTEM_METRICS_INTERVAL",
        "MLTRAIL_RUN_CONTEXT",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLTRAIL_USER", "sdk-tester")


@pytest.fixture
def sdk(server: LiveServer, spool_dir: Path) -> Settings:
    """The SDK pointed at the shared server, with quick delivery for tests."""
    return mltrail.init(url=server.url, spool_dir=spool_dir, flush_interval=0.2, give_up_after=5.0)


@pytest.fixture
def client(server: LiveServer) -> Iterator[mltrail.Client]:
    with mltrail.Client(server.url) as api:
        yield api
