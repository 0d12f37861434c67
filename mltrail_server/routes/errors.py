"""How the v1 API renders errors: `{"detail": ...}` with the status of the seed's table."""

import errno
import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mltrail_server.errors import (
    DomainError,
    InvalidInput,
    QueryTimeout,
    StorageFull,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2


# SQLSTATEs that mean "not now" rather than "wrong": a connection exception (class 08), too
# many connections (53), PostgreSQL shutting down, starting up or ending sessions (57), and a
# deadlock or serialization failure (40P01, 40001). asyncpg raises them as plain DBAPIError.
RETRYABLE_SQLSTATES = ("08", "53", "57", "40001", "40P01")
# query_canceled: PostgreSQL's statement_timeout stopped the statement.
QUERY_CANCELED = "57014"
# disk_full, and SQLite's SQLITE_FULL as its driver words it.
DISK_FULL_SQLSTATE = "53100"
SQLITE_FULL_TEXT = "database or disk is full"
# SQLite's progress handler (mltrail_server.db.engine) stopped a statement that ran too long.
SQLITE_INTERRUPTED_TEXT = "interrupted"
# SQLITE_BUSY: another connection held the write lock past the busy timeout.
SQLITE_LOCKED_TEXT = "database is locked"
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

QUERY_TIMEOUT_MESSAGE = (
    "The query took too long and the database stopped it (DATABASE_STATEMENT_TIMEOUT_SECONDS); "
    "narrow the request (a shorter filter, fewer experiments, a smaller page) or retry later"
)
DATABASE_FULL_MESSAGE = (
    "The database's disk is full; nothing was stored. Free space on the server, then retry"
)
DISK_FULL_MESSAGE = "The server's disk is full; nothing was stored. Free space, then retry"
DATABASE_LOCKED_MESSAGE = (
    "The database is busy: other writes held it longer than this one may wait "
    "(DATABASE_BUSY_TIMEOUT_SECONDS); nothing of this request was stored, retry shortly"
)


def _sqlstate(exc: Exception) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def storage_full(exc: Exception) -> StorageFull | None:
    """A full disk or quota under the database or the files: 507, not a retryable 503."""
    if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
        return StorageFull(DISK_FULL_MESSAGE)
    if _sqlstate(exc) == DISK_FULL_SQLSTATE:
        return StorageFull(DATABASE_FULL_MESSAGE)
    if isinstance(exc, OperationalError) and SQLITE_FULL_TEXT in str(exc.orig):
        return StorageFull(DATABASE_FULL_MESSAGE)
    return None


def query_timeout(exc: Exception) -> QueryTimeout | None:
    """A statement the database stopped because it ran past the statement timeout."""
    if _sqlstate(exc) == QUERY_CANCELED or (
        isinstance(exc, OperationalError) and str(exc.orig) == SQLITE_INTERRUPTED_TEXT
    ):
        return QueryTimeout(QUERY_TIMEOUT_MESSAGE, RETRY_AFTER_SECONDS)
    return None


def database_unavailable(exc: Exception) -> Unavailable | None:
    """An error that means the database is down, locked, overloaded or took too long for
    this request, not a bug."""
    timed_out = query_timeout(exc)
    if timed_out is not None:
        return timed_out
    if isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError):
        return Unavailable("The database is busy; retry shortly", RETRY_AFTER_SECONDS)
    if isinstance(exc, OperationalError) and SQLITE_LOCKED_TEXT in str(exc.orig):
        return Unavailable(DATABASE_LOCKED_MESSAGE, RETRY_AFTER_SECONDS)
    sqlstate = _sqlstate(exc)
    if (
        isinstance(exc, OperationalError)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
        or sqlstate.startswith(RETRYABLE_SQLSTATES)
    ):
        return Unavailable("The database is unavailable; retry shortly", RETRY_AFTER_SECONDS)
    if isinstance(exc, OSError) and exc.filename is None:
        # A socket error while connecting (asyncpg raises plain OSError for some). A file
        # system error names its file: that is not the database, and stays a 500.
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
        headers["WWW-Authenticate"] = 'Bearer, Basic realm="mltrail"'
    return headers


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return _render(request, exc)


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    full = storage_full(exc)
    if full is not None:
        logger.error("disk full: %s", exc)
        return _render(request, full)
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
