"""The domain errors raised by services; each wire format renders them in its own shape."""


class DomainError(Exception):
    """Base of every error a client can act on. `status_code` is the v1 API's HTTP status."""

    status_code = 400
    code = "INVALID_PARAMETER_VALUE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 422
    code = "INVALID_PARAMETER_VALUE"


class InvalidPath(DomainError):
    """A path that cannot be made canonical (NUL, above its root): a 400 in both APIs."""

    status_code = 400
    code = "INVALID_PARAMETER_VALUE"


class NotFound(DomainError):
    status_code = 404
    code = "RESOURCE_DOES_NOT_EXIST"


class Conflict(DomainError):
    """A duplicate, or a write that contradicts stored state (a changed param)."""

    status_code = 409
    code = "RESOURCE_ALREADY_EXISTS"


class Unauthorized(DomainError):
    status_code = 401
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    status_code = 403
    code = "PERMISSION_DENIED"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "INVALID_PARAMETER_VALUE"


class Unavailable(DomainError):
    """The database is unreachable or locked; the client should retry."""

    status_code = 503
    code = "TEMPORARILY_UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRequests(DomainError):
    status_code = 429
    code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(DomainError):
    """The disk (or quota) that holds artifacts or the database is full; nothing was stored.
    507 Insufficient Storage in both wire formats, which the MLflow client does not retry:
    space has to be freed first."""

    status_code = 507
    code = "RESOURCE_EXHAUSTED"


class QueryTimeout(Unavailable):
    """A statement ran past DATABASE_STATEMENT_TIMEOUT_SECONDS and the database stopped it."""
