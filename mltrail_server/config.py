"""Settings, read from the environment and an optional `.env` file."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
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
    # Set when DATABASE_URL (and DATABASE_READ_URL, if set) point at PgBouncer in
    # transaction mode.
    database_pgbouncer: bool = False
    # Empty means: no replica, every request uses DATABASE_URL. A PostgreSQL hot standby of
    # DATABASE_URL that serves the requests that only read (services/read_routing.py).
    database_read_url: str = ""
    # How long after a write the same principal's reads still go to DATABASE_URL, so that
    # it reads what it just wrote however far the replica lags; 0 turns this off.
    database_read_your_writes_seconds: float = Field(default=5.0, ge=0)
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
    # Empty means: `<data_dir>/artifacts`. Where run artifacts (and logged models) are kept:
    # a local folder, or a bucket: `s3://bucket/prefix`, `gs://bucket/prefix`,
    # `az://container/prefix` (credentials from each provider's environment variables).
    artifact_root: str = ""
    # An S3-compatible server (MinIO, Ceph, ...) for `s3://` roots; empty means AWS S3.
    artifact_s3_endpoint_url: str = ""
    # With a bucket as ARTIFACT_ROOT: tell the mlflow client to download straight from the
    # store through presigned URLs (in parallel ranges). Off by default: the clients must
    # then reach the store themselves, which a bucket behind the server often is not.
    artifact_presigned_downloads: bool = False
    # With an `s3://` ARTIFACT_ROOT: the mlflow client's multipart upload sends its parts
    # straight to the bucket through presigned URLs, as MLflow's server does on S3 (the
    # clients must reach the bucket). False, or another root: the parts go through this server.
    artifact_presigned_uploads: bool = True
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
    # Runs and experiments soft-deleted more than this many days ago are purged for good
    # (rows and artifacts) by a background task; 0 (the default, as in MLflow, where only
    # an explicit `gc` purges) turns it off. `mltrail gc` purges on demand either way.
    gc_deleted_after_days: float = Field(default=0, ge=0)
    # How often the background task looks, when GC_DELETED_AFTER_DAYS is set.
    gc_interval_seconds: float = Field(default=3600.0, gt=0)

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

    @field_validator("database_read_url")
    @classmethod
    def _check_database_read_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return value
        if not value.startswith("postgresql://"):
            raise ValueError("must start with postgresql:// (or be empty for no replica)")
        _check_parses(value)
        # When DATABASE_URL itself is invalid, its own error says so.
        primary = info.data.get("database_url", "postgresql://")
        if not str(primary).startswith("postgresql"):
            raise ValueError(
                "a read replica needs DATABASE_URL to be PostgreSQL too (its primary); "
                "unset DATABASE_READ_URL"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (or be empty)")
        return value

    @field_validator("artifact_root")
    @classmethod
    def _check_artifact_root(cls, value: str) -> str:
        scheme = artifact_root_scheme(value)
        if scheme is not None and scheme not in OBJECT_STORE_SCHEMES:
            raise ValueError(
                f"{scheme}:// is not served; give a local folder, s3://bucket/prefix, "
                "gs://bucket/prefix or az://container/prefix"
            )
        if scheme is not None and not value.partition("://")[2].split("/")[0]:
            raise ValueError(f"{scheme}:// needs a bucket: {scheme}://bucket/prefix")
        return value

    @field_validator("artifact_s3_endpoint_url")
    @classmethod
    def _check_s3_endpoint(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (or be empty for AWS S3)")
        return value

    @property
    def artifact_store_url(self) -> str | None:
        """The bucket URL when artifacts live in object storage, else None (a local folder)."""
        return self.artifact_root if artifact_root_scheme(self.artifact_root) else None

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL to connect with."""
        return _async_url(self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}")

    @property
    def resolved_database_read_url(self) -> str | None:
        """The async SQLAlchemy URL of the read replica, None when there is none."""
        return _async_url(self.database_read_url) if self.database_read_url else None

    @property
    def shown_database_url(self) -> str:
        """The database as configured (the SQLite default filled in), its password hidden:
        what messages and logs may show."""
        return hide_password(self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}")

    @property
    def resolved_artifact_root(self) -> Path:
        """The directory that holds every artifact."""
        return Path(self.artifact_root) if self.artifact_root else self.data_dir / "artifacts"


def _async_url(url: str) -> str:
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    elif url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


def _check_parses(url: str) -> None:
    """A ValueError that says what is wrong with a database URL SQLAlchemy cannot read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)  # a port that is not a number fails here
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL: write postgresql://user:password@host:port/database"
        ) from None


OBJECT_STORE_SCHEMES = ("s3", "gs", "az")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def artifact_root_scheme(root: str) -> str | None:
    """The URL scheme of an ARTIFACT_ROOT (`s3`, ...), None for a local path."""
    match = _URL_SCHEME.match(root)
    return match[1].lower() if match else None


def hide_password(url: str) -> str:
    """A URL (database, Redis) with its password, if any, as `***`: what may be shown."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def describe_setting_error(error: Any) -> str:
    """One line naming the variable of a settings validation error, what is wrong, and the
    value given, a URL's password hidden (pydantic's `ErrorDetails`)."""
    variable = "_".join(str(part) for part in error["loc"]).upper()
    given = error.get("input")
    if isinstance(given, str) and "://" in given:
        given = hide_password(given)  # a database or Redis URL: its password stays unsaid
    return f"{variable}: {error['msg']} (got {given!r})"


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
