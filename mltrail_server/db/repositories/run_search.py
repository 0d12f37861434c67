"""SQL for run search: a parsed filter and `order_by` compiled into one query for a page of runs.

Each clause on a metric, param or tag is an `EXISTS` on the (run_id, key) unique index of its
table, so `AND`, `OR` and parentheses compose as plain boolean SQL. PostgreSQL turns an `EXISTS`
under `AND` into a semi-join and one under `OR` into a hashed subplan; SQLite probes the index
once per candidate run. Sorting on a metric, param or tag is a left join on the same index.

LIKE is case-sensitive on both databases: PostgreSQL's LIKE already is, and on SQLite (whose
LIKE ignores ASCII case) the pattern is translated to GLOB. ILIKE is PostgreSQL's ILIKE and
`lower() LIKE lower()` on SQLite (ASCII case folding only there). `\\` escapes `%`, `_` and
itself in both.
"""

import operator
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from sqlalchemy import (
    ColumnElement,
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
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from mltrail_server.db.tables import ACTIVE, Experiment, LatestMetric, Param, Run, RunTag
from mltrail_server.services.search_filter import And, Comparison, Expr, Or, OrderBy

__all__ = ["search_runs"]

_ESCAPE = "\\"
_GLOB_LITERALS = {"*": "[*]", "?": "[?]", "[": "[[]"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
# Attribute name -> (column, whether it can be NULL).
_ATTRIBUTE_COLUMNS: dict[str, tuple[InstrumentedAttribute[Any], bool]] = {
    "run_id": (Run.id, False),
    "run_name": (Run.name, False),
    "status": (Run.status, False),
    "user_id": (Run.user, True),
    "artifact_uri": (Run.artifact_uri, True),
    "start_time": (Run.started_at, False),
    "end_time": (Run.ended_at, True),
}


async def search_runs(
    session: AsyncSession,
    *,
    experiment_ids: Sequence[uuid.UUID],
    lifecycle: str | None,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
) -> Sequence[Run]:
    """One page of the runs of live experiments that match `where`, in `order_by` order, then
    most recently started first, then by id. `lifecycle=None` means live and deleted runs."""
    # The live experiments first (a primary-key lookup), so that the page query filters on
    # constants: PostgreSQL then reads one experiment's runs in started_at order from
    # ix_run_experiment_listing, and no join sits above the sort to keep it from stopping at
    # the first `limit` rows.
    live_query = select(Experiment.id).where(
        Experiment.id.in_(list(experiment_ids)), Experiment.lifecycle == ACTIVE
    )
    live = (await session.execute(live_query)).scalars().all()
    if not live:
        return []
    compiler = _Compiler(session.bind.dialect.name if session.bind is not None else "")
    if compiler.on_postgres:
        # asyncpg prepares and keeps statements; from the sixth run on, PostgreSQL may switch
        # to a generic plan that cannot see the values (how selective `acc > 0.9` is), which
        # measured ten times slower. Plan each search for its values (this transaction only).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    query = select(Run).where(Run.experiment_id.in_(live))
    if lifecycle is not None:
        query = query.where(Run.lifecycle == lifecycle)
    if where is not None:
        query = query.where(compiler.condition(where))
    query = compiler.ordered(query, order_by).offset(offset).limit(limit)
    return (await session.execute(query)).scalars().all()


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.on_postgres = dialect == "postgresql"

    # -- filter ------------------------------------------------------------------------------

    def condition(self, expr: Expr) -> Any:
        if isinstance(expr, And):
            return and_(*(self.condition(item) for item in expr.items))
        if isinstance(expr, Or):
            return or_(*(self.condition(item) for item in expr.items))
        if expr.entity == "metric":
            return self.metric(expr)
        if expr.entity == "param":
            return self.key_value(Param, expr)
        if expr.entity == "tag":
            return self.key_value(RunTag, expr)
        if expr.entity == "attribute":
            return self.attribute(expr)
        raise ValueError(f"cannot search on {expr.entity} fields")  # the service rejects these

    def metric(self, clause: Comparison) -> ColumnElement[bool]:
        # The latest value; a NaN latest value matches no comparison.
        return exists().where(
            LatestMetric.run_id == Run.id,
            LatestMetric.key == clause.key,
            LatestMetric.is_nan == false(),
            _COMPARE[clause.op](LatestMetric.value, clause.value),
        )

    def key_value(self, table: type[Param] | type[RunTag], clause: Comparison) -> Any:
        has_key = (table.run_id == Run.id, table.key == clause.key)
        if clause.op == "IS NULL":
            return ~exists().where(*has_key)
        if clause.op == "IS NOT NULL":
            return exists().where(*has_key)
        # As in MLflow, `!=` and NOT IN match only runs that have the key.
        return exists().where(*has_key, self.text_match(table.value, clause.op, clause.value))

    def attribute(self, clause: Comparison) -> ColumnElement[bool]:
        key, op, value = clause.key, clause.op, clause.value
        column, _ = _ATTRIBUTE_COLUMNS[key]
        if key in ("start_time", "end_time"):
            assert isinstance(value, int)
            return _millisecond_match(column, op, value)
        if key == "run_id" and op not in ("LIKE", "ILIKE"):
            return _run_id_match(op, value)
        if key == "run_id":
            return self.text_match(self.run_id_text(), op, value)
        return self.text_match(column, op, value)

    def text_match(self, column: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "IN":
            return column.in_(list(value))  # type: ignore[no-any-return]
        if op == "NOT IN":
            return column.not_in(list(value))  # type: ignore[no-any-return]
        if op == "LIKE":
            assert isinstance(value, str)
            if self.on_postgres:
                return column.like(_like_pattern(value), escape=_ESCAPE)  # type: ignore[no-any-return]
            return column.op("GLOB")(_glob_pattern(value))  # type: ignore[no-any-return]
        if op == "ILIKE":
            assert isinstance(value, str)
            return column.ilike(_like_pattern(value), escape=_ESCAPE)  # type: ignore[no-any-return]
        return _COMPARE[op](column, value)

    def run_id_text(self) -> ColumnElement[str]:
        """The run id as the API shows it: lowercase hex with hyphens."""
        if self.on_postgres:
            return cast(Run.id, Text)
        # SQLite stores the 32 hex digits without hyphens.
        spans = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        pieces = [func.substr(Run.id, start, length, type_=String) for start, length in spans]
        return reduce(lambda text, piece: text + "-" + piece, pieces)

    # -- order -------------------------------------------------------------------------------

    def ordered(self, query: Select[Any], order_by: Sequence[OrderBy]) -> Select[Any]:
        clauses: list[Any] = []
        for order in order_by:
            query, rank, value = self.sort_key(query, order)
            if rank is not None:
                clauses.append(rank.asc())  # missing values last, whatever the direction
            clauses.append(value.asc() if order.ascending else value.desc())
        fields = {(order.entity, order.key) for order in order_by}
        if ("attribute", "start_time") not in fields:
            clauses.append(Run.started_at.desc())
        if ("attribute", "run_id") not in fields:
            clauses.append(Run.id.asc())
        return query.order_by(*clauses)

    def sort_key(
        self, query: Select[Any], order: OrderBy
    ) -> tuple[Select[Any], ColumnElement[int] | None, Any]:
        """The query with any join the order needs, a rank that puts missing values after the
        others (None for a column that cannot be missing), and the value to sort by."""
        if order.entity == "metric":
            metric = aliased(LatestMetric)
            query = query.outerjoin(metric, and_(metric.run_id == Run.id, metric.key == order.key))
            # Numbers, then NaN, then runs without the metric (MLflow's order).
            nan_last = case((metric.id.is_(None), 2), (metric.is_nan, 1), else_=0)
            return query, nan_last, metric.value
        if order.entity in ("param", "tag"):
            table: type[Param] | type[RunTag] = (
                aliased(Param) if order.entity == "param" else aliased(RunTag)
            )
            query = query.outerjoin(table, and_(table.run_id == Run.id, table.key == order.key))
            return query, case((table.run_id.is_(None), 1), else_=0), self.binary(table.value)
        column, nullable = _ATTRIBUTE_COLUMNS[order.key]
        value = self.binary(column) if isinstance(column.type, String) else column
        return query, case((column.is_(None), 1), else_=0) if nullable else None, value

    def binary(self, column: Any) -> Any:
        """Strings compare by code point on both databases, whatever PostgreSQL's collation."""
        return column.collate("C") if self.on_postgres else column


def _run_id_match(op: str, value: Any) -> ColumnElement[bool]:
    ids = [run_id for text in _as_list(value) if (run_id := _uuid(text)) is not None]
    if op in ("=", "IN"):
        return Run.id.in_(ids) if ids else false()
    return Run.id.not_in(ids) if ids else true()


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:  # not an id at all: it matches no run
        return None


def _millisecond_match(column: Any, op: str, millis: int) -> ColumnElement[bool]:
    """Compare a timestamp column as whole milliseconds since the epoch (MLflow's unit):
    `= t` is the half-open range [t, t + 1 ms), and so on."""
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


def _like_parts(pattern: str) -> list[tuple[str, bool]]:
    """A LIKE pattern as (character, is_wildcard) pairs; `\\` makes the next one literal,
    and a trailing `\\` stands for itself."""
    parts: list[tuple[str, bool]] = []
    chars = iter(pattern)
    for char in chars:
        if char == _ESCAPE:
            parts.append((next(chars, _ESCAPE), False))
        else:
            parts.append((char, char in "%_"))
    return parts


def _like_pattern(pattern: str) -> str:
    """The pattern re-escaped so that it is valid everywhere (PostgreSQL rejects a trailing
    escape character)."""
    return "".join(
        char if wildcard else (_ESCAPE + char if char in "%_\\" else char)
        for char, wildcard in _like_parts(pattern)
    )


def _glob_pattern(pattern: str) -> str:
    wildcards = {"%": "*", "_": "?"}
    return "".join(
        wildcards[char] if wildcard else _GLOB_LITERALS.get(char, char)
        for char, wildcard in _like_parts(pattern)
    )
