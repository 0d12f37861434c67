"""OpenAPI descriptions of the error responses the v1 routes can give."""

import uuid
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    """One problem FastAPI found in a request: where (`loc`) and what (`msg`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class RequestError(BaseModel):
    """A request the server cannot act on: a message, or FastAPI's list naming each field."""

    detail: str | list[ValidationIssue]


# Every v1 route may answer these (mltrail_server.main declares them for the whole API).
REQUEST_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": RequestError, "description": "A body that is not valid JSON or UTF-8"},
    422: {
        "model": RequestError,
        "description": "Invalid input: a message, or a list naming each field and what is allowed",
    },
    401: {"model": ErrorBody, "description": "No API key, or an invalid or revoked one"},
    403: {"model": ErrorBody, "description": "The key's user may not do this"},
    413: {"model": ErrorBody, "description": "The request body is over the size limit"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": ErrorBody, "description": "The database is unavailable; see Retry-After"},
}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such live resource"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Duplicate name or conflicting state"}
}


def json_response(model: BaseModel) -> Response:
    """A large response serialized once, straight from the model in pydantic's Rust core.
    (Returned as-is, FastAPI would first convert the model to dicts and validate it again:
    that cost more than the database read for a page of 25,000 points.) The route keeps its
    `response_model` for the OpenAPI document."""
    return Response(content=model.model_dump_json(), media_type="application/json")


def orjson_response(content: Any) -> Response:
    """A response from plain dicts and lists (UUIDs, UTC datetimes with `Z`, as pydantic
    writes them), encoded by orjson in one go: what the hottest pages use instead of a model
    per item. The route keeps its `response_model` for the OpenAPI document."""
    body = orjson.dumps(content, default=_uuid_text, option=orjson.OPT_UTC_Z)
    return Response(content=body, media_type="application/json")


def _uuid_text(value: object) -> str:
    # asyncpg's UUIDs are a subclass of uuid.UUID, which orjson encodes only exactly.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
