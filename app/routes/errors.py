"""How the v1 API renders errors: `{"detail": ...}` with the status of the seed's table."""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.errors import DomainError, TooManyRequests, Unauthorized, Unavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2


def database_unavailable(exc: Exception) -> Unavailable | None:
    """An error that means the database is down, locked or overloaded, not a bug."""
    if isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError):
        return Unavailable("The database is busy; retry shortly", RETRY_AFTER_SECONDS)
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return Unavailable("The database is unavailable; retry shortly", RETRY_AFTER_SECONDS)
    if isinstance(exc, OSError):
        return Unavailable("The database is unreachable; retry shortly", RETRY_AFTER_SECONDS)
    return None


def _render(request: Request, exc: DomainError) -> JSONResponse:
    return JSONResponse(
        {"detail": exc.message}, status_code=exc.status_code, headers=error_headers(exc)
    )


def error_headers(exc: DomainError) -> dict[str, str]:
    """Headers that go with an error in either wire format."""
    headers = {}
    if isinstance(exc, Unavailable | TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer, Basic realm="exptrack"'
    return headers


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return _render(request, exc)


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    unavailable = database_unavailable(exc)
    if unavailable is None:
        raise exc
    logger.warning("database unavailable: %s", exc)
    return _render(request, unavailable)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    for error in (DBAPIError, PoolTimeoutError, ConnectionError, TimeoutError, OSError):
        app.add_exception_handler(error, handle_database_error)
