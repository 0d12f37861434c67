"""How the MLflow routes answer errors: `{"error_code", "message"}` with MLflow's statuses.

The routes use `MlflowRoute`, which renders every error raised while handling one of them,
so the v1 API keeps its own `{"detail"}` bodies. A client mistake is never a 5xx: the MLflow
client retries 5xx answers for minutes before it reports anything.
"""

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from mltrail.encoding import InvalidKey
from mltrail_server.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StorageFull,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.errors import database_unavailable, refused_value, storage_full

logger = logging.getLogger(__name__)

STATUS_BY_CODE = {
    "BAD_REQUEST": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
}


def mlflow_error(
    code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    # ASCII escapes: a message may echo input holding a lone surrogate, which UTF-8 cannot carry.
    body = json.dumps({"error_code": code, "message": message}, separators=(",", ":"))
    return Response(
        body,
        status_code=status or STATUS_BY_CODE.get(code, 400),
        headers=headers,
        media_type="application/json",
    )


class BadRequest(InvalidInput):
    """A request MLflow answers with BAD_REQUEST (400) rather than INVALID_PARAMETER_VALUE."""


# MLflow's error code for each domain error; the nearest class in an error's MRO decides, and
# anything else a client did wrong is INVALID_PARAMETER_VALUE.
ERROR_CODES: dict[type[DomainError], str] = {
    BadRequest: "BAD_REQUEST",
    NotFound: "RESOURCE_DOES_NOT_EXIST",
    Conflict: "RESOURCE_ALREADY_EXISTS",
    Unauthorized: "UNAUTHENTICATED",
    Forbidden: "PERMISSION_DENIED",
    Unavailable: "TEMPORARILY_UNAVAILABLE",
    TooManyRequests: "REQUEST_LIMIT_EXCEEDED",
    StorageFull: "RESOURCE_EXHAUSTED",
}


def error_code(exc: DomainError) -> str:
    for kind in type(exc).__mro__:
        if kind in ERROR_CODES:
            return ERROR_CODES[kind]
    return "INVALID_PARAMETER_VALUE"


def render_domain_error(exc: DomainError) -> Response:
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer, Basic realm="mltrail"'
    # 413 and 507 keep their HTTP status: MLflow has no error code of its own for them, and
    # its client retries neither (a 5xx it does retry would spin for minutes on a full disk).
    if isinstance(exc, PayloadTooLarge | StorageFull):
        status = exc.status_code
    else:
        status = STATUS_BY_CODE.get(error_code(exc), 400)
    return mlflow_error(error_code(exc), exc.message, status, headers)


# -- MLflow's validation messages, word for word (its server's handlers and validation.py) --

API_DOCS_HINT = " See the API docs for more information about request parameters."


def shown_value(value: object) -> str:
    """A value as MLflow's messages show it: JSON, keys sorted, no spaces (`"5"`, `5`)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= 200 else f"{text[:200]}..."


def missing_value(field: str) -> str:
    """A required parameter that is absent (or empty)."""
    return f"Missing value for required parameter '{field}'.{API_DOCS_HINT}"


def invalid_value(field: str, value: object, why: str | None = None) -> str:
    """`Invalid value <JSON> for parameter '<field>' supplied[: <why>]`."""
    if why:
        return f"Invalid value {shown_value(value)} for parameter '{field}' supplied: {why}"
    return f"Invalid value {shown_value(value)} for parameter '{field}' supplied."


def invalid_type(field: str, value: object) -> str:
    """A value of the wrong type (a string for a list, text for a number)."""
    hint = f" Hint: Value was of type '{type(value).__name__}'."
    return invalid_value(field, value, hint) + API_DOCS_HINT


def max_results_not_positive(value: int, *, period: str = "") -> str:
    """`max_results` below 1 (the searches write no final period, get-history does)."""
    return (
        f"Invalid value {value} for parameter 'max_results' supplied. "
        f"It must be a positive integer{period}"
    )


def max_results_above(value: int, limit: int) -> str:
    """`max_results` above a search's limit."""
    return f"Invalid value {value} for parameter 'max_results' supplied. It must be at most {limit}"


def schema_message(message: str) -> str:
    """A handler's own check of one parameter, which MLflow's server ends with the docs hint."""
    return f"{message}{API_DOCS_HINT}"


# Pydantic's checks of our own (list bounds, metric values): their reason is worth keeping.
_OWN_CHECKS = frozenset({"value_error", "assertion_error"})


def _field_of(location: tuple[str | int, ...]) -> str:
    """`metrics[0].timestamp`, as MLflow names a field inside a list."""
    field = ""
    for part in location:
        if part in ("body", "query"):
            continue
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    return field or "request body"


def describe_validation_error(exc: RequestValidationError) -> str:
    """MLflow's wording: 'Missing value for required parameter ...' or 'Invalid value ...'."""
    messages = []
    for error in exc.errors()[:5]:
        field = _field_of(error.get("loc", ()))
        kind = error.get("type")
        if kind == "missing":
            messages.append(missing_value(field))
        elif kind == "json_invalid":
            messages.append("The request body is not valid JSON.")
        elif kind in _OWN_CHECKS:
            reason = str(error.get("msg", "")).removeprefix("Value error, ")
            messages.append(invalid_value(field, error.get("input"), f"{reason}."))
        else:
            messages.append(invalid_type(field, error.get("input")))
    return " ".join(messages) or "Invalid request."


def render_exception(exc: Exception) -> Response | None:
    """The MLflow answer to an exception, or None for a bug (which stays a 500)."""
    if isinstance(exc, DomainError):
        return render_domain_error(exc)
    if isinstance(exc, RequestValidationError):
        return mlflow_error("INVALID_PARAMETER_VALUE", describe_validation_error(exc))
    if isinstance(exc, InvalidKey):
        # The key rule shared with the SDK and the v1 API (mltrail.encoding.check_key).
        return mlflow_error("INVALID_PARAMETER_VALUE", f"Invalid {exc}.")
    if isinstance(exc, UnicodeEncodeError):
        # JSON allows "\ud800", a plain str field keeps it, and no database can store it.
        return mlflow_error(
            "INVALID_PARAMETER_VALUE", "Text must be valid Unicode (no lone surrogates)."
        )
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return mlflow_error("ENDPOINT_NOT_FOUND", str(exc.detail), 404)
        code = "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR"
        return mlflow_error(code, str(exc.detail), exc.status_code, dict(exc.headers or {}))
    if isinstance(exc, DBAPIError | PoolTimeoutError | ConnectionError | TimeoutError | OSError):
        full = storage_full(exc)
        if full is not None:
            logger.error("disk full: %s", exc)
            return render_domain_error(full)
        refused = refused_value(exc)
        if refused is not None:
            logger.warning("database refused a value: %s", getattr(exc, "orig", exc))
            return render_domain_error(refused)
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            logger.warning("database unavailable: %s", exc)
            return render_domain_error(unavailable)
        if isinstance(exc, IntegrityError):
            # A write that lost a race with another (a duplicate name, a run deleted
            # meanwhile): worth a look by the caller, never a server error to retry.
            logger.warning("database refused a write: %s", exc.orig)
            return mlflow_error(
                "INVALID_PARAMETER_VALUE", "The database refused this write; retry it."
            )
    return None


class MlflowRoute(AccessRoute):
    """A route of the MLflow wire API: unset response fields are left out, and errors are
    rendered the MLflow way."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_none"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return with_mlflow_errors(super().get_route_handler())


def with_mlflow_errors(
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """A route handler whose exceptions are answered the MLflow way (a bug stays a 500)."""

    async def mlflow_handler(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            response = render_exception(exc)
            if response is None:
                raise
            return response

    return mlflow_handler
