"""The run-search filter language and `order_by` clauses, parsed into a small typed AST.

The language is MLflow's (`metrics.acc > 0.9 AND params.lr = '0.01'`) plus `OR` and parentheses;
`AND` binds tighter than `OR`. Keywords are case-insensitive; attribute names are not. Parsing is
done by a hand-written tokenizer and a recursive-descent parser, so every error carries the
0-based offset where the input stopped making sense.

A filter is bounded so that one search cannot tie up the database: at most
`MAX_FILTER_LENGTH` characters and `MAX_FILTER_CONDITIONS` comparisons, `order_by` at most
`MAX_ORDER_BY_CLAUSES` clauses. Each comparison becomes a subquery; the bounds sit far above
what people write by hand or the MLflow UI and client send (several values of one key fit in
a single `IN (...)` comparison).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "And",
    "Comparison",
    "Entity",
    "Expr",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY_CLAUSES",
    "FilterSyntaxError",
    "FilterTooLarge",
    "Or",
    "OrderBy",
    "OrderEntity",
    "parse_filter",
    "parse_order_by",
]

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
OrderEntity = Literal["metric", "param", "tag", "attribute"]
Value: TypeAlias = str | float | int | tuple[str, ...] | None


class FilterSyntaxError(ValueError):
    """A filter or order_by clause that cannot be parsed.

    `position` is the 0-based offset in `text` where parsing broke, `reason` the message without
    the position, and `snippet` the input with a caret under that offset.
    """

    def __init__(self, reason: str, position: int, text: str) -> None:
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position
        self.text = text

    @property
    def snippet(self) -> str:
        flat = "".join(" " if c.isspace() else c for c in self.text)
        return f"{flat}\n{' ' * self.position}^"


class FilterTooLarge(FilterSyntaxError):
    """A filter or order_by past one of the size bounds; `reason` names the bound."""


MAX_FILTER_LENGTH = 10_000
MAX_FILTER_CONDITIONS = 50
MAX_ORDER_BY_CLAUSES = 20


def check_filter_length(text: str) -> None:
    """Raise `FilterTooLarge` for a filter longer than `MAX_FILTER_LENGTH` characters."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterTooLarge(
            f"the filter is {len(text)} characters long; at most {MAX_FILTER_LENGTH} are allowed",
            MAX_FILTER_LENGTH,
            text,
        )


def too_many_conditions(text: str, position: int) -> FilterTooLarge:
    """The error for the comparison that goes past `MAX_FILTER_CONDITIONS`."""
    return FilterTooLarge(
        f"the filter has more than {MAX_FILTER_CONDITIONS} conditions; at most "
        f"{MAX_FILTER_CONDITIONS} are allowed (several values of one key fit in one condition: "
        "params.model IN ('a', 'b'))",
        position,
        text,
    )


@dataclass(frozen=True)
class Comparison:
    """One `<entity>.<key> <op> <value>` clause; `key` is canonical for attributes."""

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
    entity: OrderEntity
    key: str
    ascending: bool


_ENTITY_ALIASES: dict[str, Entity] = {
    **dict.fromkeys(("metrics", "metric"), "metric"),
    **dict.fromkeys(("params", "param", "parameters", "parameter"), "param"),
    **dict.fromkeys(("tags", "tag"), "tag"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attribute"),
    **dict.fromkeys(("datasets", "dataset"), "dataset"),
}
_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
_ATTRIBUTES = ("artifact_uri", "end_time", "run_id", "run_name", "start_time", "status", "user_id")
_ATTRIBUTE_ALIASES = dict.fromkeys(("run name", "Run name"), "run_name") | dict.fromkeys(
    ("created", "Created"), "start_time"
)
_DATASET_KEYS = ("context", "digest", "name")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
_MAX_DEPTH = 64
_KEY_QUOTES = ("`", '"')
_VALUE_QUOTES = ("'", '"')

_NUM_OPS = ("=", "!=", ">", ">=", "<", "<=")
_STR_OPS = ("=", "!=", "LIKE", "ILIKE")
_LIST_OPS = ("IN", "NOT IN")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_OPERATOR_FOLLOWERS = {"NOT": ("IN",), "IS": ("NULL", "NOT"), "IS NOT": ("NULL",)}

# Quoted tokens use possessive `*+`: backtracking would let 'it''s end at the doubled quote.
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<string>'(?:[^']|'')*+'|\"(?:[^\"]|\"\")*+\"|`(?:[^`]|``)*+`)"
    r"|(?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<ident>[^\W\d][\w\-./:]*)"
    r"|(?P<op>!=|>=|<=|=|>|<)"
    r"|(?P<punct>[(),])"
)
_INTEGER_RE = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "number", "string", "op", "(", ")", "," or "eof"
    text: str  # exactly as written, quotes included
    pos: int
    value: str = ""  # the unescaped content of a quoted token
    quote: str = ""  # the quote character of a quoted token

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind in ("number", "string"):
            return f"{'quoted key' if self.quote == '`' else self.kind} {self.text}"
        return f"'{self.text}'"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        match = _TOKEN_RE.match(text, i)
        if match is None:
            char = text[i]
            if char in "'\"`":
                what = "quoted key" if char == "`" else "string"
                raise FilterSyntaxError(f"unterminated {what} (no closing {char})", i, text)
            raise FilterSyntaxError(f"unexpected character {char!r}", i, text)
        kind, token_text = match.lastgroup or "", match.group()
        if kind == "string":
            quote = token_text[0]  # inside, a doubled quote stands for itself
            value = token_text[1:-1].replace(quote * 2, quote)
            tokens.append(_Token("string", token_text, i, value, quote))
        elif kind != "ws":
            tokens.append(_Token(token_text if kind == "punct" else kind, token_text, i))
        i = match.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


def _allowed_ops(entity: Entity, key: str) -> tuple[str, ...]:
    if entity == "metric":
        return _NUM_OPS
    if entity in ("param", "tag"):
        return _STR_OPS + _LIST_OPS + _NULL_OPS
    if entity == "dataset":
        return _STR_OPS + _LIST_OPS
    if key in _NUMERIC_ATTRIBUTES:
        return _NUM_OPS
    return _STR_OPS + _LIST_OPS if key == "run_id" else _STR_OPS


def _flatten(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
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

    @staticmethod
    def is_keyword(token: _Token, *words: str) -> bool:
        # isascii(): "ın".upper() == "IN", and a Turkish key should not become a keyword.
        return token.kind == "ident" and token.text.isascii() and token.text.upper() in words

    # expr := and_expr (OR and_expr)* ; and_expr := primary (AND primary)*
    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.is_keyword(self.peek(), "OR"):
            self.advance()
            items.append(self.parse_and())
        return _flatten(Or, items)

    def parse_and(self) -> Expr:
        items = [self.parse_primary()]
        while self.is_keyword(self.peek(), "AND"):
            self.advance()
            items.append(self.parse_primary())
        return _flatten(And, items)

    def parse_primary(self) -> Expr:
        opening = self.peek()
        if opening.kind != "(":
            return self.parse_comparison()
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
            raise self.expected("AND, OR or end of input", token)

    def parse_field(self, what: str) -> tuple[Entity, str, _Token]:
        """Parse `<entity>.<key>` (or a bare attribute name); return the canonical pair."""
        token = self.advance()
        if token.quote in _KEY_QUOTES:
            entity: Entity = "attribute"
            key = token.value
        elif token.kind == "ident" and "." not in token.text:
            if self.is_keyword(token, *_KEYWORDS):
                raise self.error(f"expected {what}, found keyword '{token.text}'", token.pos)
            entity, key = "attribute", token.text
        elif token.kind == "ident":
            prefix, key = token.text.split(".", 1)
            if prefix.lower() not in _ENTITY_ALIASES:
                raise self.error(
                    f"unknown entity '{prefix}'; expected metrics., params., tags., "
                    "attributes. or datasets.",
                    token.pos,
                )
            entity = _ENTITY_ALIASES[prefix.lower()]
            quoted = self.peek()
            if not key and quoted.quote in _KEY_QUOTES and quoted.pos == token.end:
                key = self.advance().value
        else:
            raise self.expected(what, token)
        if not key:
            raise self.error(f"expected a key after '{token.text}'", token.end)
        if entity == "attribute":
            canonical = _ATTRIBUTE_ALIASES.get(key, key)
            if canonical not in _ATTRIBUTES:
                raise self.error(
                    f"unknown attribute '{key}'; allowed: {', '.join(_ATTRIBUTES)} "
                    "(or created, run name); prefix other fields with metrics., params. or tags.",
                    token.pos,
                )
            key = canonical
        elif entity == "dataset" and key not in _DATASET_KEYS:
            allowed = ", ".join(_DATASET_KEYS)
            raise self.error(f"unknown dataset field '{key}'; allowed: {allowed}", token.pos)
        return entity, key, token

    def parse_comparison(self) -> Comparison:
        self.conditions += 1
        if self.conditions > MAX_FILTER_CONDITIONS:
            raise too_many_conditions(self.text, self.peek().pos)
        entity, key, first = self.parse_field("a filter clause such as metrics.acc > 0.9")
        field_text = self.text[first.pos : self.tokens[self.index - 1].end]
        op_token = self.peek()
        op = self.parse_operator(field_text)
        allowed = _allowed_ops(entity, key)
        if op not in allowed:
            target = f"attribute '{key}'" if entity == "attribute" else entity
            raise self.error(
                f"invalid comparator '{op}' for {target}; allowed: {', '.join(allowed)}",
                op_token.pos,
            )
        return Comparison(entity, key, op, self.parse_value(entity, key, op))

    def parse_operator(self, field_text: str) -> str:
        token = self.advance()
        if token.kind == "op":
            return token.text
        if not self.is_keyword(token, "LIKE", "ILIKE", "IN", "NOT", "IS"):
            raise self.expected(f"a comparison operator after '{field_text}'", token)
        op = token.text.upper()
        while op in _OPERATOR_FOLLOWERS:  # NOT IN, IS NULL, IS NOT NULL
            follow, allowed = self.advance(), _OPERATOR_FOLLOWERS[op]
            if not self.is_keyword(follow, *allowed):
                raise self.expected(f"{' or '.join(allowed)} after {op}", follow)
            op = f"{op} {follow.text.upper()}"
        return op

    def parse_value(self, entity: Entity, key: str, op: str) -> Value:
        if op in _NULL_OPS:
            return None
        if op in _LIST_OPS:
            return self.parse_list(op)
        token = self.advance()
        if entity == "metric":
            if token.kind == "number":
                number = float(token.text)
                if math.isfinite(number):
                    return number
                raise self.error(f"number {token.text} is out of range", token.pos)
            expected = "a number"
        elif entity == "attribute" and key in _NUMERIC_ATTRIBUTES:
            if token.kind == "number" and _INTEGER_RE.fullmatch(token.text):
                # The columns are 64-bit; checking the length first keeps int() cheap.
                if len(token.text) <= 20 and -(2**63) <= (millis := int(token.text)) < 2**63:
                    return millis
                raise self.error(f"integer {token.text[:24]} is out of range", token.pos)
            expected = "an integer (milliseconds)"
        else:
            if token.quote in _VALUE_QUOTES:
                return token.value
            expected = "a quoted string"
        raise self.expected(f"{expected} value after '{op}'", token)

    def parse_list(self, op: str) -> tuple[str, ...]:
        opening = self.advance()
        if opening.kind != "(":
            raise self.expected(f"'(' after {op}", opening)
        if self.peek().kind == ")":
            raise self.error(f"empty {op} list; give at least one quoted string", self.peek().pos)
        values: list[str] = []
        while True:
            token = self.advance()
            if token.quote not in _VALUE_QUOTES:
                raise self.expected(f"a quoted string in the {op} list", token)
            values.append(token.value)
            separator = self.advance()
            if separator.kind == ")":
                return tuple(values)
            if separator.kind != ",":
                raise self.expected(f"',' or ')' in the {op} list", separator)


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run-search filter; `None`, empty or blank text means "no filter".

    Raises `FilterSyntaxError` for anything else that is not a valid filter, `FilterTooLarge`
    (a subclass) for one past `MAX_FILTER_LENGTH` or `MAX_FILTER_CONDITIONS`.
    """
    if text is None or not text.strip():
        return None
    check_filter_length(text)
    parser = _Parser(text)
    expr = parser.parse_or()
    parser.parse_end()
    return expr


def parse_order_by(clauses: Sequence[str] | None) -> list[OrderBy]:
    """Parse `order_by` clauses such as `["metrics.acc DESC", "start_time"]` (default ASC).

    A bare string is taken as a single clause. A field named twice (after resolving aliases such
    as `created` for `start_time`) is an error.
    """
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    if len(clauses) > MAX_ORDER_BY_CLAUSES:
        raise FilterTooLarge(
            f"{len(clauses)} order_by clauses; at most {MAX_ORDER_BY_CLAUSES} are allowed", 0, ""
        )
    result: list[OrderBy] = []
    seen: dict[tuple[str, str], int] = {}
    for number, clause in enumerate(clauses, start=1):
        try:
            order, position = _parse_order_clause(clause)
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
        result.append(order)
    return result


def _parse_order_clause(clause: str) -> tuple[OrderBy, int]:
    parser = _Parser(clause)
    entity, key, first = parser.parse_field("a field such as metrics.acc or start_time")
    if entity == "dataset":
        raise parser.error("datasets cannot be used in order_by", first.pos)
    token = parser.advance()
    ascending = True
    if parser.is_keyword(token, "ASC", "DESC"):
        ascending = token.text.upper() == "ASC"
        token = parser.advance()
    elif token.kind != "eof":
        raise parser.expected("ASC or DESC", token)
    if token.kind != "eof":
        raise parser.expected("end of clause", token)
    return OrderBy(entity, key, ascending), first.pos
