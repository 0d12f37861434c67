"""Where the server is and how the SDK talks to it: `mltrail.init(...)`, else the environment.

| Variable | Meaning |
|---|---|
| `MLTRAIL_URL` | the server, default `http://127.0.0.1:8000` |
| `MLTRAIL_API_KEY` | sent as `Authorization: Bearer <key>` |
| `MLTRAIL_USER` | user of runs; owner of experiments only without an API key (else its user) |
| `MLTRAIL_SPOOL_DIR` | where unsent points wait on disk, default `~/.mltrail/spool` |
| `MLTRAIL_SYSTEM_METRICS` | `false` to not sample `system/` metrics (default `true`) |
| `MLTRAIL_SYSTEM_METRICS_INTERVAL` | seconds between samples, default 10 |
| `MLTRAIL_RUN_CONTEXT` | `false` to not record git, command line, packages... (default `true`) |
"""

from __future__ import annotations

import getpass
import os
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mltrail.errors import ConfigError

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
    spool_dir: Path = field(default_factory=lambda: Path.home() / ".mltrail" / "spool")
    timeout: float = 30.0
    flush_interval: float = 1.0
    batch_size: int = 1000
    max_batch: int = 5000
    max_queue: int = 100_000
    give_up_after: float = 30.0
    probe_interval: float = 10.0
    #: Sample CPU, memory, disk, network and GPU figures as `system/...` metrics.
    system_metrics: bool = True
    system_metrics_interval: float = 10.0
    #: Record git state, command line, host, job ids as tags and the packages as an artifact
    #: when a run is created; `capture_diff` also uploads `git diff HEAD` as an artifact.
    run_context: bool = True
    capture_diff: bool = False

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"MLTRAIL_URL must start with http:// or https:// (got {self.url!r})")
        if not 1 <= self.max_batch <= 10_000:
            raise ConfigError(
                f"max_batch must be 1-10000 (the server's limit), got {self.max_batch}"
            )
        if self.batch_size < 1 or self.max_queue < self.batch_size:
            raise ConfigError("need 1 <= batch_size <= max_queue")
        if self.flush_interval <= 0 or self.give_up_after < 0 or self.timeout <= 0:
            raise ConfigError("flush_interval and timeout must be > 0, give_up_after >= 0")
        if not self.system_metrics_interval > 0:
            raise ConfigError(
                f"system_metrics_interval must be > 0 seconds, got {self.system_metrics_interval}"
            )

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request. The key goes as a Bearer token, which the server
        accepts whatever header its `API_KEY_HEADER` names."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


VARIABLES = {
    "url": "MLTRAIL_URL",
    "api_key": "MLTRAIL_API_KEY",
    "user": "MLTRAIL_USER",
    "spool_dir": "MLTRAIL_SPOOL_DIR",
}
#: Variables that came after the rename (no `EXPTRACK_*` name to honour).
NEW_VARIABLES = {
    "system_metrics": "MLTRAIL_SYSTEM_METRICS",
    "system_metrics_interval": "MLTRAIL_SYSTEM_METRICS_INTERVAL",
    "run_context": "MLTRAIL_RUN_CONTEXT",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# The names of these variables before the rename, honoured (with a warning) for one release.
DEPRECATED_PREFIX = "EXPTRACK_"


def adopt_deprecated_environment() -> None:
    """Copy each `EXPTRACK_*` variable to its `MLTRAIL_*` name where that is unset, warning
    once per variable; an `MLTRAIL_*` variable that is set always wins."""
    for variable in VARIABLES.values():
        old = DEPRECATED_PREFIX + variable.removeprefix("MLTRAIL_")
        if os.environ.get(old) and not os.environ.get(variable):
            os.environ[variable] = os.environ[old]
            warnings.warn(
                f"{old} is deprecated and will stop working in the next release: "
                f"set {variable} instead",
                FutureWarning,
                stacklevel=3,
            )


def _environment() -> dict[str, object]:
    adopt_deprecated_environment()
    variables = {**VARIABLES, **NEW_VARIABLES}
    return {name: os.environ[var] for name, var in variables.items() if os.environ.get(var)}


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE + _FALSE:
        return text in _TRUE
    variable = NEW_VARIABLES.get(name, name)
    raise ConfigError(f"{variable} must be true or false (or 1/0, yes/no, on/off), got {value!r}")


def _seconds(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        variable = NEW_VARIABLES.get(name, name)
        raise ConfigError(f"{variable} must be a number of seconds, got {value!r}") from None


def _build(values: dict[str, object], overrides: dict[str, object]) -> Settings:
    values = {**values, **{k: v for k, v in overrides.items() if v is not None}}
    if "url" in values:
        values["url"] = str(values["url"]).rstrip("/")
    if "spool_dir" in values:
        values["spool_dir"] = Path(str(values["spool_dir"])).expanduser()
    for name in ("system_metrics", "run_context", "capture_diff"):
        if name in values:
            values[name] = _flag(name, values[name])
    if "system_metrics_interval" in values:
        values["system_metrics_interval"] = _seconds(
            "system_metrics_interval", values["system_metrics_interval"]
        )
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
    (`MLTRAIL_URL`, `MLTRAIL_API_KEY`, `MLTRAIL_USER`, `MLTRAIL_SPOOL_DIR`); `options`
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
