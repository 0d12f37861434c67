"""`order_by` clauses, `<field> [ASC|DESC]`, in the field language of a `SearchSpec`."""

from collections.abc import Sequence

from mltrail_server.search.ast import OrderBy
from mltrail_server.search.errors import (
    MAX_ORDER_BY_CLAUSES,
    FilterSyntaxError,
    FilterTooLarge,
    invalid_input,
)
from mltrail_server.search.parser import Parser
from mltrail_server.search.spec import SearchSpec
from mltrail_server.search.tokens import is_keyword

__all__ = ["parse_order_by", "parse_order_fields", "read_order_by", "read_order_fields"]


def parse_order_by(clauses: Sequence[str] | str | None, spec: SearchSpec) -> list[OrderBy]:
    """Parse clauses such as `["metrics.acc DESC", "start_time"]` (ASC by default).

    A bare string is taken as a single clause. A field named twice (after resolving aliases
    such as `created` for `start_time`) is an error.
    """
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    return _parse_all([(clause, None) for clause in clauses], spec)


def parse_order_fields(fields: Sequence[tuple[str, bool]], spec: SearchSpec) -> list[OrderBy]:
    """Parse (field, ascending) pairs, the field without a direction: MLflow's logged-model
    search sends `{"field_name": ..., "ascending": ...}`. The rules of `parse_order_by`."""
    return _parse_all(list(fields), spec)


def read_order_by(
    clauses: Sequence[str] | str | None, spec: SearchSpec, field: str = "order_by"
) -> list[OrderBy]:
    """`parse_order_by`, with an error as the `InvalidInput` both APIs answer with."""
    try:
        return parse_order_by(clauses, spec)
    except FilterSyntaxError as exc:
        raise invalid_input(exc, field) from None


def read_order_fields(
    fields: Sequence[tuple[str, bool]], spec: SearchSpec, field: str = "order_by"
) -> list[OrderBy]:
    """`parse_order_fields`, with an error as the `InvalidInput` both APIs answer with."""
    try:
        return parse_order_fields(fields, spec)
    except FilterSyntaxError as exc:
        raise invalid_input(exc, field) from None


def _parse_all(items: list[tuple[str, bool | None]], spec: SearchSpec) -> list[OrderBy]:
    """Each (clause, ascending) pair; `ascending=None`: the clause may end in ASC or DESC."""
    if len(items) > MAX_ORDER_BY_CLAUSES:
        raise FilterTooLarge(
            f"{len(items)} order_by clauses; at most {MAX_ORDER_BY_CLAUSES} are allowed", 0, ""
        )
    result: list[OrderBy] = []
    seen: dict[tuple[str, str], int] = {}
    for number, (clause, ascending) in enumerate(items, start=1):
        try:
            order, position = _parse_clause(clause, spec, directions=ascending is None)
        except FilterSyntaxError as exc:
            raise FilterSyntaxError(
                f"order_by clause {number} ({clause!r}): {exc.reason}", exc.position, clause
            ) from None
        field = (order.entity, order.key)
        if field in seen:
            raise FilterSyntaxError(
                f"order_by clause {number} ({clause!r}): duplicate field {order.entity} "
                f"'{order.key}' (already used by clause {seen[field]})",
                position,
                clause,
            )
        seen[field] = number
        result.append(order if ascending is None else OrderBy(order.entity, order.key, ascending))
    return result


def _parse_clause(clause: str, spec: SearchSpec, *, directions: bool) -> tuple[OrderBy, int]:
    parser = Parser(clause, spec)
    entity, key, first = parser.parse_field(f"a field such as {spec.order_example}")
    if entity != "attribute":
        keyed = next(k for k in spec.keyed if k.entity == entity)
        if not keyed.orderable:
            raise parser.error(f"{keyed.prefixes[0]} cannot be used in order_by", first.pos)
    elif spec.orderable is not None and key not in spec.orderable:
        raise parser.error(
            f"attribute '{key}' cannot be used in order_by; allowed: {', '.join(spec.orderable)}",
            first.pos,
        )
    token = parser.advance()
    ascending = True
    if directions and is_keyword(token, "ASC", "DESC"):
        ascending = token.text.upper() == "ASC"
        token = parser.advance()
    elif directions and token.kind != "eof":
        raise parser.expected("ASC or DESC", token)
    if token.kind != "eof":
        raise parser.expected("end of clause", token)
    return OrderBy(entity, key, ascending), first.pos
