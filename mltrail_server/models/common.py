"""Shapes shared by several resources."""

import math
import re
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
NAME_RULE = "ASCII letters, digits, '_' and '-' only"


def normalize_name(value: str) -> str:
    """The seed's name rule, applied on create and on rename: checked, then lowercased."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"name must contain {NAME_RULE}")
    return value.lower()


def reject_nulls(model: BaseModel, *fields: str) -> None:
    """In a PATCH, leaving a field out keeps it; sending null for a required field is an error."""
    for field in fields:
        if field in model.model_fields_set and getattr(model, field) is None:
            raise ValueError(f"{field} cannot be null; leave it out to keep the current value")


class Page(BaseModel, Generic[T]):
    """One page of a list (the seed's `PaginatedResponse`)."""

    items: list[T]
    total: int = Field(description="Items matching the filters, on every page")
    page: int = Field(description="This page's number, from 1")
    per_page: int
    pages: int = Field(description="Number of pages; 0 when there are no items")

    @classmethod
    def build(cls, items: list[T], total: int, page: int, per_page: int) -> "Page[T]":
        return cls(
            items=items,
            total=total,
            page=page,
            per_page=per_page,
            pages=math.ceil(total / per_page) if total else 0,
        )
