"""The one SQL compiler of the search language: a parsed filter and `order_by` as SQLAlchemy
Core, for whatever table a repository searches. The repository hands over its columns
(`Attribute`) and its keyed fields (`KeyedTable` for a child table of key/value rows,
`JsonKeys` for a JSON object column); the compiler knows no table of its own.

- A clause on a keyed field of a child table (`KeyedTable`, one row per (owner, key)) compares
  a correlated scalar subquery: the value looked up by that unique key for the searched row.
  Neither database turns a scalar subquery into a join, so the plan starts from the searched
  table's own rows and probes the key index once per candidate, whatever the statistics say
  (an `EXISTS` is planned as a semi-join, which on fresh, unanalyzed tables PostgreSQL nested
  over the `(key, value)` index, a thousand times slower). The same lookup sorts. A JSON
  object's keys (`JsonKeys`) are an `EXISTS` over its pairs. `AND`, `OR` and parentheses
  compose as plain boolean SQL; `IS NULL` is "has no such key". As in MLflow, `!=` and
  `NOT IN` match only rows that have the key.
- LIKE is case-sensitive on both databases: PostgreSQL's LIKE already is, and on SQLite (whose
  LIKE ignores ASCII case) the pattern is sent as GLOB. ILIKE is PostgreSQL's ILIKE and
  `lower() LIKE lower()` on SQLite (ASCII case folding only there). `\\` escapes `%`, `_` and
  itself on both (`mltrail_server.search.like`).
- Times compare as whole milliseconds since the epoch (MLflow's unit): `= t` is the half-open
  range [t, t + 1 ms), and so on.
- A UUID column compares with the values read as UUIDs (a value that is no UUID matches
  nothing); LIKE reads it as lowercase hex with hyphens.
- Strings sort by code point on both databases, whatever PostgreSQL's collation; missing
  values sort last whatever the direction, and a NaN metric after the numbers.
"""

import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, Literal, Protocol

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from mltrail_server.search.ast import And, Comparison, Expr, Or, OrderBy
from mltrail_server.search.like import ESCAPE, glob_pattern, sql_like_pattern

__all__ = ["Attribute", "AttributeKind", "JsonKeys", "KeyedSource", "KeyedTable", "SearchSql"]

AttributeKind = Literal["text", "number", "time", "uuid"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Attribute:
    """A column of the searched table: `text`, `number`, `time` (a datetime compared in ms)
    or `uuid`; `nullable` when it can be missing (sorted last)."""

    column: Any
    kind: AttributeKind = "text"
    nullable: bool = False


@dataclass(frozen=True)
class KeyRows:
    """The rows of one key: what to select from (None: the table of `where`), the value column
    and the conditions that pick the key's rows of the searched row."""

    from_: FromClause | None
    value: Any
    where: tuple[ColumnElement[bool], ...]


class KeyedSource(Protocol):
    def rows(self, key: str, on_postgres: bool) -> KeyRows: ...


@dataclass(frozen=True)
class KeyedTable:
    """Key/value rows in a table of their own (`owner` naming the searched row's `parent` id):
    tags, params, latest metrics. `skip_nan`: a row whose `is_nan` is set matches nothing."""

    table: Any
    owner: str
    parent: Any
    skip_nan: bool = False

    def rows(self, key: str, on_postgres: bool) -> KeyRows:
        table = self.table
        where = [getattr(table, self.owner) == self.parent, table.key == key]
        if self.skip_nan:
            where.append(table.is_nan == false())
        return KeyRows(None, table.value, tuple(where))

    def lookup(self, key: str, column: str, *, matching: bool = True) -> Any:
        """`column` of the searched row's `key` row, NULL when it has none: a probe of the
        (owner, key) unique index. `matching`: NULL also for a row that matches nothing
        (a NaN metric). Built on the Core table (an ORM alias per lookup cost 3 ms a
        search to build); each scalar subquery is a scope of its own, never correlated to
        its own table."""
        table = self.table.__table__
        where = [table.c[self.owner] == self.parent, table.c.key == key]
        if matching and self.skip_nan:
            where.append(table.c.is_nan == false())
        return select(table.c[column]).where(*where).correlate_except(table).scalar_subquery()


@dataclass(frozen=True)
class JsonKeys:
    """Keys of a JSON object (of strings) held in a text column of the searched row."""

    column: Any

    def rows(self, key: str, on_postgres: bool) -> KeyRows:
        if on_postgres:
            pairs = func.jsonb_each_text(cast(self.column, JSONB)).table_valued("key", "value")
        else:
            pairs = func.json_each(self.column).table_valued("key", "value")
        return KeyRows(pairs, pairs.c.value, (pairs.c.key == key,))


class SearchSql:
    """Compiles filters and orders for one search on one database dialect."""

    def __init__(
        self,
        dialect: str,
        *,
        attributes: Mapping[str, Attribute],
        keyed: Mapping[str, KeyedSource] | None = None,
    ) -> None:
        self.on_postgres = dialect == "postgresql"
        self.attributes = attributes
        self.keyed = keyed or {}

    # -- filter ------------------------------------------------------------------------------

    def condition(self, expr: Expr) -> ColumnElement[bool]:
        if isinstance(expr, And):
            return and_(*(self.condition(item) for item in expr.items))
        if isinstance(expr, Or):
            return or_(*(self.condition(item) for item in expr.items))
        if expr.entity == "attribute":
            return self.attribute(expr)
        source = self.keyed.get(expr.entity)
        if source is None:  # the service rejects what its search cannot do
            raise ValueError(f"cannot search on {expr.entity} fields")
        return self.keyed_match(source, expr)

    def keyed_match(self, source: KeyedSource, clause: Comparison) -> ColumnElement[bool]:
        if isinstance(source, KeyedTable):
            value = source.lookup(clause.key, "value")
            if clause.op == "IS NULL":
                return value.is_(None)  # type: ignore[no-any-return]
            if clause.op == "IS NOT NULL":
                return value.is_not(None)  # type: ignore[no-any-return]
            return self.match(value, clause.op, clause.value)
        rows = source.rows(clause.key, self.on_postgres)
        query = exists() if rows.from_ is None else exists().select_from(rows.from_)
        if clause.op == "IS NULL":
            return ~query.where(*rows.where)
        if clause.op == "IS NOT NULL":
            return query.where(*rows.where)
        return query.where(*rows.where, self.match(rows.value, clause.op, clause.value))

    def attribute(self, clause: Comparison) -> ColumnElement[bool]:
        spec = self.attributes[clause.key]
        column, op, value = spec.column, clause.op, clause.value
        if op == "IS NULL":
            return column.is_(None)  # type: ignore[no-any-return]
        if op == "IS NOT NULL":
            return column.is_not(None)  # type: ignore[no-any-return]
        if spec.kind == "time":
            assert isinstance(value, int)
            return _millisecond_match(column, op, value)
        if spec.kind == "uuid" and op in ("LIKE", "ILIKE"):
            return self.match(self.uuid_text(column), op, value)
        if spec.kind == "uuid":
            return _uuid_match(column, op, value)
        return self.match(column, op, value)

    def match(self, column: Any, op: str, value: Any) -> ColumnElement[bool]:
        """`column <op> value` for a text or number column."""
        if op == "IN":
            return column.in_(list(value))  # type: ignore[no-any-return]
        if op == "NOT IN":
            return column.not_in(list(value))  # type: ignore[no-any-return]
        if op == "LIKE":
            assert isinstance(value, str)
            if self.on_postgres:
                return column.like(sql_like_pattern(value), escape=ESCAPE)  # type: ignore[no-any-return]
            return column.op("GLOB")(glob_pattern(value))  # type: ignore[no-any-return]
        if op == "ILIKE":
            assert isinstance(value, str)
            return column.ilike(sql_like_pattern(value), escape=ESCAPE)  # type: ignore[no-any-return]
        return _COMPARE[op](column, value)

    def uuid_text(self, column: Any) -> ColumnElement[str]:
        """A UUID column as the API shows it: lowercase hex with hyphens."""
        if self.on_postgres:
            return cast(column, Text)
        # SQLite stores the 32 hex digits without hyphens.
        spans = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        pieces = [func.substr(column, start, length, type_=String) for start, length in spans]
        return reduce(lambda text, piece: text + "-" + piece, pieces)

    # -- order -------------------------------------------------------------------------------

    def ordered(
        self, query: Select[Any], order_by: Sequence[OrderBy], then: Sequence[OrderBy]
    ) -> Select[Any]:
        """`query` in `order_by` order, then by each of `then` not already used (the last of
        them should be unique, so that pages do not overlap)."""
        clauses: list[Any] = []
        used = {(order.entity, order.key) for order in order_by}
        for order in [*order_by, *(o for o in then if (o.entity, o.key) not in used)]:
            query, rank, value = self.sort_key(query, order)
            if rank is not None:
                clauses.append(rank.asc())  # missing values last, whatever the direction
            clauses.append(value.asc() if order.ascending else value.desc())
        return query.order_by(*clauses)

    def sort_key(
        self, query: Select[Any], order: OrderBy
    ) -> tuple[Select[Any], ColumnElement[int] | None, Any]:
        """The query, a rank that puts missing values after the others (None for a column that
        cannot be missing), and the value to sort by (a keyed value: a key lookup)."""
        if order.entity == "attribute":
            spec = self.attributes[order.key]
            column = spec.column
            value = self.binary(column) if spec.kind == "text" else column
            return query, case((column.is_(None), 1), else_=0) if spec.nullable else None, value
        source = self.keyed.get(order.entity)
        if not isinstance(source, KeyedTable):
            raise ValueError(f"cannot order by {order.entity} fields")
        value = source.lookup(order.key, "value", matching=False)
        if source.skip_nan:
            # Numbers, then NaN, then rows without the key (MLflow's order).
            is_nan = source.lookup(order.key, "is_nan", matching=False)
            nan_last = case((is_nan.is_(None), 2), (is_nan, 1), else_=0)
            return query, nan_last, value
        return query, case((value.is_(None), 1), else_=0), self.binary(value)

    def binary(self, column: Any) -> Any:
        """Strings compare by code point on both databases, whatever PostgreSQL's collation."""
        return column.collate("C") if self.on_postgres else column


def _uuid_match(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    texts = [value] if isinstance(value, str) else list(value)
    ids = [parsed for text in texts if (parsed := _uuid(text)) is not None]
    if op in ("=", "IN"):
        return column.in_(ids) if ids else false()
    if op in ("!=", "NOT IN"):
        return column.not_in(ids) if ids else true()
    raise ValueError(f"invalid comparator {op!r} for an id")


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:  # not an id at all: it matches no row
        return None


def _millisecond_match(column: Any, op: str, millis: int) -> ColumnElement[bool]:
    start, end = _instant(millis), _instant(millis + 1)
    match op:
        case "=":
            return and_(column >= start, column < end)
        case "!=":
            return or_(column < start, column >= end)
        case ">":
            return column >= end  # type: ignore[no-any-return]
        case ">=":
            return column >= start  # type: ignore[no-any-return]
        case "<":
            return column < start  # type: ignore[no-any-return]
        case "<=":
            return column < end  # type: ignore[no-any-return]
    raise ValueError(f"invalid comparator {op!r} for a time")


def _instant(millis: int) -> datetime:
    """The moment `millis` after the epoch, clamped to what a datetime can hold."""
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return (datetime.min if millis < 0 else datetime.max).replace(tzinfo=UTC)
