"""OpenAPI descriptions of the error responses the v1 routes can give."""

from typing import Any

from fastapi import Response
from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


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
