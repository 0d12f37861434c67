"""How the v1 API renders errors: `{"detail": ...}` with the status of the seed's table."""

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.errors import DomainError, InvalidInput, TooManyRequests, Unauthorized, Unavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2


# SQLSTATEs that mean "not now" rather than "wrong": a connection exception (class 08), too
# many connections (53), PostgreSQL shutting down, starting up or ending sessions (57), and a
# deadlock or serialization failure (40P01, 40001). asyncpg raises them as plain DBAPIError.
RETRYABLE_SQLSTATES = ("08", "53", "57", "40001", "40P01")


def database_unavailable(exc: Exception) -> Unavailable | None:
    """An error that means the database is down, locked or overloaded, not a bug."""
    if isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError):
        return Unavailable("The database is busy; retry shortly", RETRY_AFTER_SECONDS)
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if (
        isinstance(exc, OperationalError)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        or sqlstate.startswith(RETRYABLE_SQLSTATES)
    ):
        return Unavailable("The database is unavailable; retry shortly", RETRY_AFTER_SECONDS)
    if isinstance(exc, OSError):
        return Unavailable("The database is unreachable; retry shortly", RETRY_AFTER_SECONDS)
    return None


def refused_value(exc: Exception) -> InvalidInput | None:
    """A value the database cannot store (SQLSTATE class 22: PostgreSQL refuses the NUL
    character in text, a number out of range...): the request's fault, not a server error."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if not (isinstance(exc, DataError) or str(sqlstate).startswith("22")):
        return None
    if sqlstate == "22021":
        return InvalidInput("Text must not contain the NUL character (\\u0000)")
    return InvalidInput("A value of this request cannot be stored (out of range or malformed)")


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
    refused = refused_value(exc)
    if refused is not None:
        logger.warning("database refused a value: %s", getattr(exc, "orig", exc))
        return _render(request, refused)
    unavailable = database_unavailable(exc)
    if unavailable is None:
        raise exc
    logger.warning("database unavailable: %s", exc)
    return _render(request, unavailable)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's list of field errors. Rendered with ASCII escapes: the errors echo the input,
    and a lone surrogate in it (JSON allows `"\\ud800"`) cannot be encoded as UTF-8."""
    assert isinstance(exc, RequestValidationError)
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, separators=(",", ":"))
    return Response(body, status_code=422, media_type="application/json")


async def handle_unencodable_text(request: Request, exc: Exception) -> JSONResponse:
    """Text with a lone surrogate that validation let through (JSON allows `"\\ud800"`; a
    plain `str` field keeps it): no database and no response can hold it."""
    message = "Text must be valid Unicode (no lone surrogate such as \\ud800)"
    return _render(request, InvalidInput(message))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(UnicodeEncodeError, handle_unencodable_text)
    for error in (DBAPIError, PoolTimeoutError, ConnectionError, TimeoutError, OSError):
        app.add_exception_handler(error, handle_database_error)
