"""The exceptions the SDK raises. Every one is an `MltrailError`, so
`except mltrail.MltrailError` catches all of them.

```
MltrailError
├── ConfigError          a setting is missing or unusable
├── ServerUnreachable    no answer, or only 429/5xx answers until the retry budget ran out
└── ApiError             the server refused the request (status and detail attached)
    ├── Unauthorized     401 (no API key, or a bad, revoked or disabled one)
    ├── Forbidden        403 (a valid key without the right: a viewer writing...)
    ├── NotFound         404
    ├── Conflict         409 (a duplicate name, a param logged again with another value)
    └── InvalidRequest   400, 413, 422
```
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "MltrailError",
    "InvalidRequest",
    "NotFound",
    "ServerUnreachable",
    "Unauthorized",
    "api_error",
]


class MltrailError(Exception):
    """Base of every error the SDK raises; `str(error)` is a one-line reason."""


class ConfigError(MltrailError):
    """A setting (argument or environment variable) is missing or unusable."""


class ServerUnreachable(MltrailError):
    """The server did not answer, or answered only 429/5xx until the retry budget ran out."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the server at {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(MltrailError):
    """The server refused a request; retrying the same request will not help."""

    def __init__(self, status_code: int, detail: str, method: str = "", path: str = "") -> None:
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{detail} (HTTP {status_code})")
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.path = path


class Unauthorized(ApiError):
    """401: the server wants a valid API key (`MLTRAIL_API_KEY`); none was sent, or the one
    sent is unknown, revoked, or its user disabled."""


class Forbidden(ApiError):
    """403: the key is valid but its user may not do this (a viewer writing, a member
    writing to an experiment it neither owns nor was granted, a non-admin managing users
    or keys). Another key, or a grant or role from an admin, is what helps."""


class NotFound(ApiError):
    """404: no such live experiment, run, or key."""


class Conflict(ApiError):
    """409: a name already taken, or a write-once param logged again with another value."""


class InvalidRequest(ApiError):
    """400, 413 or 422: the request broke a rule; the detail names the field."""


def api_error(status_code: int, detail: str, method: str = "", path: str = "") -> ApiError:
    """The `ApiError` subclass for an HTTP status."""
    kind: type[ApiError] = ApiError
    if status_code == 401:
        kind = Unauthorized
        detail = f"{detail}; set MLTRAIL_API_KEY (or pass api_key=) to a key of this server"
    elif status_code == 403:
        kind = Forbidden
    elif status_code == 404:
        kind = NotFound
    elif status_code == 409:
        kind = Conflict
    elif status_code in (400, 413, 422):
        kind = InvalidRequest
    return kind(status_code, detail, method, path)
