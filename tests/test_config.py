"""Settings from the environment: defaults, parsing, and errors that name the variable."""

import pytest

from mltrail_server.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "PORT", "LOG_LEVEL", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]


def test_defaults_are_sqlite_under_data_and_no_redis() -> None:
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite+aiosqlite:///data/tracker.db"
    assert settings.redis_url == ""
    assert settings.cors_origins == ["http://localhost:3000"]
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_values_come_from_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    with open(".env", "w") as dotenv:
        dotenv.write("LOG_LEVEL=debug\nPORT=9000\n")
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/x")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings()
    assert settings.port == 9100  # the environment wins over .env
    assert settings.log_level == "DEBUG"
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db/x"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
    ],
)
def test_a_bad_value_stops_with_a_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert f"{name}:" in str(raised.value)
