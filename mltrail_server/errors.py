"""The domain errors raised by services; each wire format renders them in its own shape (the
MLflow layer maps each to MLflow's error code, in mltrail_server/mlflow/errors.py)."""


class DomainError(Exception):
    """Base of every error a client can act on. `status_code` is the v1 API's HTTP status."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 422


class InvalidPath(DomainError):
    """A path that cannot be made canonical (NUL, above its root): a 400 in both APIs."""

    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """A duplicate, or a write that contradicts stored state (a changed param)."""

    status_code = 409


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class PayloadTooLarge(DomainError):
    status_code = 413


class Unavailable(DomainError):
    """The database is unreachable or locked; the client should retry."""

    status_code = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(DomainError):
    """The disk (or quota) that holds artifacts or the database is full; nothing was stored.
    507 Insufficient Storage in both wire formats, which the MLflow client does not retry:
    space has to be freed first."""

    status_code = 507


class QueryTimeout(Unavailable):
    """A statement ran past DATABASE_STATEMENT_TIMEOUT_SECONDS and the database stopped it."""
