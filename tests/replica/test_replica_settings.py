"""DATABASE_READ_URL and DATABASE_READ_YOUR_WRITES_SECONDS: read, checked, and a bad value
stops the server with a message naming the variable."""

import os
import subprocess
from pathlib import Path

import pytest

from mltrail_server.config import SettingsError, load_settings
from tests.sdk.live_server import free_port, spawn_uvicorn

PRIMARY = "postgresql://u:secret@db/x"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "DATABASE_READ_URL", "DATABASE_READ_YOUR_WRITES_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_no_replica_by_default() -> None:
    settings = load_settings()
    assert settings.resolved_database_read_url is None
    assert settings.database_read_your_writes_seconds == 5.0


def test_the_replica_is_read_with_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", PRIMARY)
    monkeypatch.setenv("DATABASE_READ_URL", "postgresql://u:secret@standby:5433/x")
    monkeypatch.setenv("DATABASE_READ_YOUR_WRITES_SECONDS", "2.5")
    settings = load_settings()
    assert settings.resolved_database_read_url == "postgresql+asyncpg://u:secret@standby:5433/x"
    assert settings.database_read_your_writes_seconds == 2.5


@pytest.mark.parametrize(
    ("primary", "name", "value", "message"),
    [
        (PRIMARY, "DATABASE_READ_URL", "mysql://standby/x", "must start with postgresql://"),
        (PRIMARY, "DATABASE_READ_URL", "sqlite:///r.db", "must start with postgresql://"),
        (PRIMARY, "DATABASE_READ_URL", "postgresql://u@standby:port/x", "not a database URL"),
        ("", "DATABASE_READ_URL", "postgresql://u@standby/x", "needs DATABASE_URL to be Postgre"),
        (PRIMARY, "DATABASE_READ_YOUR_WRITES_SECONDS", "-1", "greater than or equal to 0"),
        (PRIMARY, "DATABASE_READ_YOUR_WRITES_SECONDS", "soon", "valid number"),
    ],
)
def test_a_bad_value_stops_with_a_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, primary: str, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", primary)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert f"{name}:" in str(raised.value) and message in str(raised.value)


def test_the_server_refuses_to_start_on_a_bad_replica_url(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": PRIMARY,
        "DATABASE_READ_URL": "postgres://standby/x",
    }
    log = tmp_path / "server.log"
    process = spawn_uvicorn(free_port(), env, log)
    try:
        assert process.wait(timeout=60) != 0
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert "DATABASE_READ_URL: Value error, must start with postgresql://" in log.read_text()


def test_the_message_does_not_show_the_replica_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", PRIMARY)
    monkeypatch.setenv("DATABASE_READ_URL", "postgresql://u:hunter2@standby:port/x")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "hunter2" not in str(raised.value)
    assert "postgresql://u:***@standby:port/x" in str(raised.value)
