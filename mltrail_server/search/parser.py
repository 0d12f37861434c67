"""The one filter parser, configured per searchable entity by a `SearchSpec`.

The grammar is MLflow's (`metrics.acc > 0.9 AND params.lr = '0.01'`), plus `OR` and
parentheses where the spec allows them; `AND` binds tighter than `OR`. Keywords are
case-insensitive ASCII; attribute names are not. A hand-written recursive-descent parser, so
that every error carries the 0-based offset where the input stopped making sense.
"""

from __future__ import annotations

import math
import re

from mltrail_server.search.ast import And, Comparison, Entity, Expr, Or, Value
from mltrail_server.search.errors import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_LENGTH,
    FilterSyntaxError,
    FilterTooLarge,
    invalid_input,
)
from mltrail_server.search.spec import LIST_OPS, NULL_OPS, Field, SearchSpec
from mltrail_server.search.tokens import KEY_QUOTES, KEYWORDS, VALUE_QUOTES, is_keyword, tokenize
from mltrail_server.search.tokens import Token as _Token

__all__ = ["Parser", "parse_filter", "read_filter"]

_MAX_DEPTH = 64
_OPERATOR_FOLLOWERS = {"NOT": ("IN",), "IS": ("NULL", "NOT"), "IS NOT": ("NULL",)}
_INTEGER_RE = re.compile(r"-?[0-9]+")
_VALUE_NAMES = {
    "number": "a number",
    "integer": "an integer",
    "time_ms": "an integer (milliseconds)",
    "string": "a quoted string",
}


def _flatten(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


class Parser:
    """Parses one filter (or one order_by clause, see `order.py`) of the language of `spec`."""

    def __init__(self, text: str, spec: SearchSpec) -> None:
        self.text = text
        self.spec = spec
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.conditions = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def error(self, reason: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(reason, position, self.text)

    def expected(self, what: str, token: _Token) -> FilterSyntaxError:
        return self.error(f"expected {what}, found {token.describe()}", token.pos)

    # expr := and_expr (OR and_expr)* ; and_expr := primary (AND primary)*
    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while is_keyword(self.peek(), "OR"):
            if not self.spec.allow_or:
                raise self.error(
                    f"OR is not supported when searching {self.spec.what}; join clauses with AND",
                    self.peek().pos,
                )
            self.advance()
            items.append(self.parse_and())
        return _flatten(Or, items)

    def parse_and(self) -> Expr:
        items = [self.parse_primary()]
        while is_keyword(self.peek(), "AND"):
            self.advance()
            items.append(self.parse_primary())
        return _flatten(And, items)

    def parse_primary(self) -> Expr:
        opening = self.peek()
        if opening.kind != "(":
            return self.parse_comparison()
        if not self.spec.allow_or:
            raise self.error(
                f"parentheses are not supported when searching {self.spec.what}; "
                "join clauses with AND",
                opening.pos,
            )
        if self.depth >= _MAX_DEPTH:
            raise self.error(f"parentheses nested more than {_MAX_DEPTH} deep", opening.pos)
        self.advance()
        self.depth += 1
        expr = self.parse_or()
        self.depth -= 1
        closing = self.advance()
        if closing.kind != ")":
            raise self.expected(
                f"AND, OR or ')' to close the '(' at position {opening.pos}", closing
            )
        return expr

    def parse_end(self) -> None:
        token = self.peek()
        if token.kind == ")":
            raise self.error("unbalanced parenthesis: ')' without a matching '('", token.pos)
        if token.kind != "eof":
            joins = "AND, OR" if self.spec.allow_or else "AND"
            raise self.expected(f"{joins} or end of input", token)

    def parse_field(self, what: str) -> tuple[Entity, str, _Token]:
        """Parse `<prefix>.<key>` (or a bare or quoted attribute); return the canonical pair."""
        token = self.advance()
        keyed = None
        if token.quote in KEY_QUOTES:
            key = token.value
        elif token.kind == "ident" and "." not in token.text:
            if is_keyword(token, *KEYWORDS):
                raise self.error(f"expected {what}, found keyword '{token.text}'", token.pos)
            key = token.text
        elif token.kind == "ident":
            prefix, key = token.text.split(".", 1)
            keyed = self.spec.keyed_by_prefix(prefix)
            if keyed is None and not self.spec.is_attribute_prefix(prefix):
                raise self.error(
                    f"unknown entity '{prefix}'; expected {self.spec.describe_prefixes()}",
                    token.pos,
                )
            quoted = self.peek()
            if not key and quoted.quote in KEY_QUOTES and quoted.pos == token.end:
                key = self.advance().value
        else:
            raise self.expected(what, token)
        if not key:
            raise self.error(f"expected a key after '{token.text}'", token.end)
        if keyed is None:
            canonical = self.spec.canonical_attribute(key)
            if canonical is None:
                raise self.error(
                    f"unknown attribute '{key}'; {self.spec.describe_attributes()}", token.pos
                )
            return "attribute", canonical, token
        if keyed.keys is not None and key not in keyed.keys:
            allowed = ", ".join(keyed.keys)
            raise self.error(f"unknown {keyed.entity} field '{key}'; allowed: {allowed}", token.pos)
        return keyed.entity, key, token

    def field_spec(self, entity: Entity, key: str) -> Field:
        if entity == "attribute":
            return self.spec.attributes[key]
        keyed = next(k for k in self.spec.keyed if k.entity == entity)
        return keyed.field

    def parse_comparison(self) -> Comparison:
        self.conditions += 1
        if self.conditions > MAX_FILTER_CONDITIONS:
            raise _too_many_conditions(self.text, self.peek().pos)
        entity, key, first = self.parse_field(f"a filter clause such as {self.spec.filter_example}")
        field_text = self.text[first.pos : self.tokens[self.index - 1].end]
        op_token = self.peek()
        op = self.parse_operator(field_text)
        field = self.field_spec(entity, key)
        if op not in field.ops:
            target = f"attribute '{key}'" if entity == "attribute" else entity
            raise self.error(
                f"invalid comparator '{op}' for {target}; allowed: {', '.join(field.ops)}",
                op_token.pos,
            )
        return Comparison(entity, key, op, self.parse_value(field, op))

    def parse_operator(self, field_text: str) -> str:
        token = self.advance()
        if token.kind == "op":
            return token.text
        if not is_keyword(token, "LIKE", "ILIKE", "IN", "NOT", "IS"):
            raise self.expected(f"a comparison operator after '{field_text}'", token)
        op = token.text.upper()
        while op in _OPERATOR_FOLLOWERS:  # NOT IN, IS NULL, IS NOT NULL
            follow, allowed = self.advance(), _OPERATOR_FOLLOWERS[op]
            if not is_keyword(follow, *allowed):
                raise self.expected(f"{' or '.join(allowed)} after {op}", follow)
            op = f"{op} {follow.text.upper()}"
        return op

    def parse_value(self, field: Field, op: str) -> Value:
        if op in NULL_OPS:
            return None
        if op in LIST_OPS:
            return self.parse_list(op)
        token = self.advance()
        if field.type == "number" and token.kind == "number":
            number = float(token.text)
            if math.isfinite(number):
                return number
            raise self.error(f"number {token.text} is out of range", token.pos)
        whole_number = token.kind == "number" and _INTEGER_RE.fullmatch(token.text)
        if field.type in ("integer", "time_ms") and whole_number:
            # The columns are 64-bit; checking the length first keeps int() cheap.
            if len(token.text) <= 20 and -(2**63) <= (whole := int(token.text)) < 2**63:
                return whole
            raise self.error(f"integer {token.text[:24]} is out of range", token.pos)
        if field.type == "string" and token.quote in VALUE_QUOTES:
            return token.value
        raise self.expected(f"{_VALUE_NAMES[field.type]} value after '{op}'", token)

    def parse_list(self, op: str) -> tuple[str, ...]:
        opening = self.advance()
        if opening.kind != "(":
            raise self.expected(f"'(' after {op}", opening)
        if self.peek().kind == ")":
            raise self.error(f"empty {op} list; give at least one quoted string", self.peek().pos)
        values: list[str] = []
        while True:
            token = self.advance()
            if token.quote not in VALUE_QUOTES:
                raise self.expected(f"a quoted string in the {op} list", token)
            values.append(token.value)
            separator = self.advance()
            if separator.kind == ")":
                return tuple(values)
            if separator.kind != ",":
                raise self.expected(f"',' or ')' in the {op} list", separator)


def _too_many_conditions(text: str, position: int) -> FilterTooLarge:
    return FilterTooLarge(
        f"the filter has more than {MAX_FILTER_CONDITIONS} conditions; at most "
        f"{MAX_FILTER_CONDITIONS} are allowed (several values of one key fit in one condition: "
        "params.model IN ('a', 'b'))",
        position,
        text,
    )


def parse_filter(text: str | None, spec: SearchSpec) -> Expr | None:
    """Parse a filter in the language of `spec`; `None`, empty or blank text means no filter.

    Raises `FilterSyntaxError` for anything else that is not a valid filter, `FilterTooLarge`
    (a subclass) for one past `MAX_FILTER_LENGTH` or `MAX_FILTER_CONDITIONS`.
    """
    if text is None or not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterTooLarge(
            f"the filter is {len(text)} characters long; at most {MAX_FILTER_LENGTH} are allowed",
            MAX_FILTER_LENGTH,
            text,
        )
    parser = Parser(text, spec)
    expr = parser.parse_or()
    parser.parse_end()
    return expr


def read_filter(text: str | None, spec: SearchSpec, field: str = "filter") -> Expr | None:
    """`parse_filter`, with an error as the `InvalidInput` both APIs answer with."""
    try:
        return parse_filter(text, spec)
    except FilterSyntaxError as exc:
        raise invalid_input(exc, field) from None
