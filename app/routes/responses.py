"""OpenAPI descriptions of the error responses the v1 routes can give."""

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such live resource"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Duplicate name or conflicting state"}
}
