"""Settings, read from the environment and an optional `.env` file."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every setting has an environment variable of the same name in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_name: str = "Experiment Tracker API"
    debug: bool = False
    data_dir: Path = Path("./data")
    # Empty means: a SQLite file `tracker.db` under `data_dir`.
    database_url: str = ""
    # Set when DATABASE_URL points at PgBouncer in transaction mode.
    database_pgbouncer: bool = False
    # The longest one SQL statement of a request may run before the database stops it (a
    # 503 that says the query took too long); 0 means no limit. Migrations have none.
    database_statement_timeout_seconds: float = Field(default=30.0, ge=0)
    # On SQLite, how long a write waits for another's lock before its request is refused with
    # a 503 and Retry-After (nothing of it stored). Every worker's writes queue on one lock.
    database_busy_timeout_seconds: float = Field(default=10.0, gt=0)
    # Empty means: no Redis; an in-process cache is used instead.
    redis_url: str = ""
    # Prefix of every Redis key, so several deployments (or test runs) can share one Redis.
    redis_prefix: str = "mltrail:"
    cache_enabled: bool = True
    cache_ttl_seconds: int = Field(default=300, ge=1)
    api_key_header: str = "X-API-Key"
    log_level: LogLevel = "INFO"
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    migrate_on_start: bool = True
    # Empty means: `<data_dir>/artifacts`. Where run artifacts (and logged models) are kept.
    artifact_root: str = ""
    # Largest artifact file accepted by an upload, in bytes (larger: 413).
    artifact_max_bytes: int = Field(default=5 * 1024**3, ge=1)
    # None: on whenever the server can be reached beyond loopback (HOST is not a loopback
    # address, or a request arrives on a non-loopback address). Behind a reverse proxy on the
    # same host, set it to true explicitly.
    auth_enabled: bool | None = None
    # Token bucket per API key; 0 for either of the two turns limiting off.
    rate_limit_per_second: float = Field(default=200.0, ge=0)
    rate_limit_burst: int = Field(default=400, ge=0)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # CORS_ORIGINS="http://a,http://b" as well as a JSON list.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql:// (or be empty for SQLite)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (or be empty)")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to connect with."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}"
        if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
            url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        elif url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        return url

    @property
    def shown_database_url(self) -> str:
        """The database as configured (the SQLite default filled in), its password hidden:
        what messages and logs may show."""
        return hide_password(self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}")

    @property
    def resolved_artifact_root(self) -> Path:
        """The directory that holds every artifact."""
        return Path(self.artifact_root) if self.artifact_root else self.data_dir / "artifacts"


def hide_password(url: str) -> str:
    """A URL (database, Redis) with its password, if any, as `***`: what may be shown."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def describe_setting_error(error: Any) -> str:
    """One line naming the variable of a settings validation error, what is wrong, and the
    value given (pydantic's `ErrorDetails`)."""
    variable = "_".join(str(part) for part in error["loc"]).upper()
    return f"{variable}: {error['msg']} (got {error.get('input')!r})"


class SettingsError(SystemExit):
    """A setting has a value that cannot be used; the message names its variable."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into a message per variable.
    `overrides` (field names) win over the environment and `.env`, as command-line options
    do."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [describe_setting_error(error) for error in exc.errors()]
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
