"""The one tree every search filter and `order_by` parses into, whatever the entity searched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["And", "Comparison", "Entity", "Expr", "Or", "OrderBy", "Value"]

# What a field belongs to: a column of the searched row ("attribute"), or a keyed child
# (metrics, params and tags by key; a run's datasets by a fixed set of fields).
Entity = Literal["attribute", "metric", "param", "tag", "dataset"]
Value: TypeAlias = str | float | int | tuple[str, ...] | None


@dataclass(frozen=True)
class Comparison:
    """One `<entity>.<key> <op> <value>` clause; `key` is canonical for attributes, `op` upper
    case (`=`, `!=`, `>`, `>=`, `<`, `<=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`, `IS NULL`,
    `IS NOT NULL`), `value` a tuple for the list operators and None for the null tests."""

    entity: Entity
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr: TypeAlias = Comparison | And | Or


@dataclass(frozen=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool
