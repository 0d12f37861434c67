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


@pytest.mark.parametrize("name", ["RATE_LIMIT_PER_SECOND", "RATE_LIMIT_BURST"])
def test_zero_rate_or_burst_is_accepted_and_turns_limiting_off(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    from mltrail_server.services.rate_limit import RateLimiter

    monkeypatch.setenv(name, "0")
    settings = load_settings()
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    assert limiter.enabled is False


def test_a_negative_burst_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_BURST", "-1")
    with pytest.raises(SettingsError, match="RATE_LIMIT_BURST:"):
        load_settings()


def test_critical_is_a_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "critical")
    assert load_settings().log_level == "CRITICAL"


def test_options_win_over_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    with open(".env", "w") as dotenv:
        dotenv.write("CACHE_ENABLED=false\nPORT=9000\n")
    monkeypatch.setenv("PORT", "9100")
    settings = load_settings(port=9200)
    assert (settings.port, settings.cache_enabled) == (9200, False)


def test_the_database_url_is_shown_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://tracker:s3cret@db:5432/tracker")
    assert load_settings().shown_database_url == "postgresql://tracker:***@db:5432/tracker"
    monkeypatch.setenv("DATABASE_URL", "")
    assert load_settings().shown_database_url == "sqlite:///data/tracker.db"


def test_presigned_uploads_are_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTIFACT_PRESIGNED_UPLOADS", raising=False)
    assert load_settings().artifact_presigned_uploads is True
    monkeypatch.setenv("ARTIFACT_PRESIGNED_UPLOADS", "false")
    assert load_settings().artifact_presigned_uploads is False
    monkeypatch.setenv("ARTIFACT_PRESIGNED_UPLOADS", "sometimes")
    with pytest.raises(SettingsError, match="ARTIFACT_PRESIGNED_UPLOADS"):
        load_settings()
