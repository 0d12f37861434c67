"""Where the server is and how the SDK talks to it: `exptrack.init(...)`, else the environment.

| Variable | Meaning |
|---|---|
| `EXPTRACK_URL` | the server, default `http://127.0.0.1:8000` |
| `EXPTRACK_API_KEY` | sent as the `X-API-Key` header |
| `EXPTRACK_USER` | owner of experiments and user of runs, default the login name |
| `EXPTRACK_SPOOL_DIR` | where unsent points wait on disk, default `~/.exptrack/spool` |
"""

from __future__ import annotations

import getpass
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from exptrack.errors import ConfigError

__all__ = ["DEFAULT_URL", "Settings", "current_settings", "init", "load_settings"]

DEFAULT_URL = "http://127.0.0.1:8000"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still log, under a neutral name
        return "unknown"


@dataclass(frozen=True)
class Settings:
    """Everything the SDK needs to know; build one with `init()` or `load_settings()`.

    The delivery knobs: a batch leaves every `flush_interval` seconds or as soon as
    `batch_size` points wait, carrying at most `max_batch` points. At most `max_queue`
    points wait in memory; beyond that they go to the spool. A failing send is retried
    (exponential backoff with jitter, honouring `Retry-After`) for `give_up_after` seconds,
    after which the batch goes to the spool and the server is probed again every
    `probe_interval` seconds at most.
    """

    url: str = DEFAULT_URL
    api_key: str | None = None
    user: str = field(default_factory=_default_user)
    spool_dir: Path = field(default_factory=lambda: Path.home() / ".exptrack" / "spool")
    timeout: float = 30.0
    flush_interval: float = 1.0
    batch_size: int = 1000
    max_batch: int = 5000
    max_queue: int = 100_000
    give_up_after: float = 30.0
    probe_interval: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"EXPTRACK_URL must start with http:// or https:// (got {self.url!r})"
            )
        if not 1 <= self.max_batch <= 10_000:
            raise ConfigError(
                f"max_batch must be 1-10000 (the server's limit), got {self.max_batch}"
            )
        if self.batch_size < 1 or self.max_queue < self.batch_size:
            raise ConfigError("need 1 <= batch_size <= max_queue")
        if self.flush_interval <= 0 or self.give_up_after < 0 or self.timeout <= 0:
            raise ConfigError("flush_interval and timeout must be > 0, give_up_after >= 0")

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request."""
        return {"X-API-Key": self.api_key} if self.api_key else {}


def _environment() -> dict[str, object]:
    env = {
        "url": "EXPTRACK_URL",
        "api_key": "EXPTRACK_API_KEY",
        "user": "EXPTRACK_USER",
        "spool_dir": "EXPTRACK_SPOOL_DIR",
    }
    return {name: os.environ[var] for name, var in env.items() if os.environ.get(var)}


def _build(values: dict[str, object], overrides: dict[str, object]) -> Settings:
    values = {**values, **{k: v for k, v in overrides.items() if v is not None}}
    if "url" in values:
        values["url"] = str(values["url"]).rstrip("/")
    if "spool_dir" in values:
        values["spool_dir"] = Path(str(values["spool_dir"])).expanduser()
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ConfigError(f"unknown setting: {exc}") from None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with `overrides` (None values ignored) on top."""
    return _build(_environment(), overrides)


_lock = threading.Lock()
_settings: Settings | None = None


def init(
    url: str | None = None,
    api_key: str | None = None,
    **options: object,
) -> Settings:
    """Point the SDK at a server. Arguments left out come from the environment
    (`EXPTRACK_URL`, `EXPTRACK_API_KEY`, `EXPTRACK_USER`, `EXPTRACK_SPOOL_DIR`); `options`
    are any other `Settings` field (e.g. `spool_dir=`, `give_up_after=`)."""
    global _settings
    settings = load_settings(url=url, api_key=api_key, **options)
    with _lock:
        _settings = settings
    return settings


def current_settings(**overrides: object) -> Settings:
    """The settings of the last `init()`, else from the environment."""
    with _lock:
        settings = _settings
    if settings is None:
        return load_settings(**overrides)
    return _build(asdict(settings), overrides)
